"""Paired significance (reports/significance.py) against hand computations, and in `iadv summarize`."""

import json
import math
import os

import numpy as np
import pytest

from interpretable_adv.reports.seed_summary import summarize
from interpretable_adv.reports.significance import (
    comparison_pairs,
    holm,
    mcnemar,
    seed_interval,
    seeds_for_power,
    significance,
    t_test_power,
)
from interpretable_adv.runs import save_predictions


def test_mcnemar_exact_p_by_hand():
    # 1 review only A gets right, 9 only B, 5 both, 5 neither: p = 2 P(Bin(10, 1/2) <= 1) = 2 * 11 / 1024
    a = np.array([1] * 1 + [0] * 9 + [1] * 5 + [0] * 5, bool)
    b = np.array([0] * 1 + [1] * 9 + [1] * 5 + [0] * 5, bool)
    only_a, only_b, p = mcnemar(a, b)
    assert (only_a, only_b) == (1, 9)
    assert p == pytest.approx(22 / 1024, rel=1e-12)
    assert mcnemar(b, a)[2] == pytest.approx(p)                      # symmetric
    assert mcnemar(a, a) == (0, 0, 1.0)                              # no discordant review: nothing to reject
    assert mcnemar([1, 0], [0, 1])[2] == pytest.approx(1.0)          # 1 vs 1: as balanced as can be
    with pytest.raises(ValueError):
        mcnemar([1, 0], [1])


def test_seed_interval_matches_the_closed_form_t_distribution_with_two_degrees_of_freedom():
    # df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)); t_0.975 solves t / sqrt(2 + t^2) = 0.95
    result = seed_interval([1.0, 2.0, 3.0])
    critical = math.sqrt(2 * 0.95 ** 2 / (1 - 0.95 ** 2))
    assert result["mean"] == pytest.approx(2.0) and result["sd"] == pytest.approx(1.0)
    assert result["low"] == pytest.approx(2 - critical / math.sqrt(3), rel=1e-9)
    assert result["high"] == pytest.approx(2 + critical / math.sqrt(3), rel=1e-9)
    statistic = 2 / (1 / math.sqrt(3))
    assert result["p"] == pytest.approx(2 * (0.5 - statistic / (2 * math.sqrt(2 + statistic ** 2))), rel=1e-9)
    one = seed_interval([0.7])
    assert one["mean"] == pytest.approx(0.7) and one["low"] is None and one["p"] is None
    flat = seed_interval([0.5, 0.5])                                 # no spread: undefined, not certain
    assert flat["sd"] == 0.0 and flat["low"] is None and flat["p"] is None


def test_holm_step_down_by_hand():
    adjusted, rejected = holm([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> kept monotone at 0.06
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert rejected == [True, False, False, True]
    assert holm([None, 0.2]) == ([None, 0.2], [None, False])
    assert holm([0.6, 0.7])[0] == pytest.approx([1.0, 1.0])          # capped at 1


def test_seeds_for_power_matches_published_sample_sizes_and_a_simulation():
    # one-sample two-sided t at alpha 0.05, power 0.8 (Cohen's tables / G*Power): d = 1 -> 10, 0.8 -> 15, 0.5 -> 34
    assert seeds_for_power(1.0, 1.0) == 10
    assert seeds_for_power(-0.8, 1.0) == 15
    assert seeds_for_power(0.25, 0.5) == 34
    assert seeds_for_power(0.0, 1.0) is None and seeds_for_power(1.0, None) is None and seeds_for_power(1.0, 0.0) is None
    rng = np.random.RandomState(0)                                    # independent: simulated t-tests at n = 10
    from scipy.stats import t as student_t
    n, reps = 10, 20000
    d = rng.normal(1.0, 1.0, size=(reps, n))
    statistic = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    simulated = np.mean(np.abs(statistic) > student_t.ppf(0.975, n - 1))
    assert simulated == pytest.approx(t_test_power(1.0, n), abs=0.01)


def test_the_family_pairs_rows_that_share_settings():
    rows = ["baseline", "pretrained", "advt", "iadvt", "spgd", "rp", "vat", "ivat", "spgd_vat"]
    pairs = comparison_pairs(rows)
    assert pairs[0] == ("pretrained", "baseline")
    assert pairs[1:8] == [(r, "pretrained") for r in rows[2:]]
    assert pairs[8:] == [("iadvt", "advt"), ("spgd", "advt"), ("rp", "advt"), ("spgd", "iadvt"), ("rp", "iadvt"),
                         ("rp", "spgd"), ("ivat", "vat"), ("spgd_vat", "vat"), ("spgd_vat", "ivat")]
    assert comparison_pairs(["baseline", "advt"]) == []              # nothing shares AdvT's settings but Pretrained


def test_significance_decides_with_holm_over_the_family():
    accuracies = {"pretrained": {0: 80.0, 1: 81.0, 2: 82.0}, "advt": {0: 82.0, 1: 83.1, 2: 83.9},
                  "spgd": {0: 80.5, 1: 80.0, 2: 83.0}}
    result = {(c["a"], c["b"]): c for c in significance(accuracies, pairs=[("advt", "pretrained"),
                                                                           ("spgd", "pretrained")])}
    advt = result[("advt", "pretrained")]
    assert advt["mean"] == pytest.approx(2.0) and advt["seeds"] == pytest.approx({"0": 2.0, "1": 2.1, "2": 1.9})
    assert advt["p"] < 0.01 and advt["p_holm"] == pytest.approx(min(1, 2 * advt["p"])) and advt["significant"]
    spgd = result[("spgd", "pretrained")]
    assert not spgd["significant"] and spgd["low"] < 0 < spgd["high"]


def _run(path, accuracy, predicted, labels):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "results.json"), "w") as f:
        json.dump({"test_accuracy": accuracy, "dev_accuracy_best": accuracy, "test_majority_share": 0.5}, f)
    save_predictions(path, predicted, labels)


def test_summarize_writes_the_significance_table_with_mcnemar_per_seed(tmp_path):
    labels = np.array([0, 1] * 10)
    for seed in range(3):
        pretrained = labels.copy()
        pretrained[:4] = 1 - pretrained[:4]                          # 16 / 20 right
        advt = labels.copy()
        advt[4 + seed:5 + seed] = 1 - advt[4 + seed:5 + seed]        # 19 / 20: 4 reviews only AdvT, 1 only Pretrained
        _run(str(tmp_path / ("seed%d" % seed) / "pretrained"), 0.80, pretrained, labels)
        _run(str(tmp_path / ("seed%d" % seed) / "advt"), 0.95, advt, labels)
    summary = summarize(str(tmp_path))
    (comparison,) = summary["table3_significance"]
    assert (comparison["a"], comparison["b"]) == ("advt", "pretrained")
    assert comparison["mean"] == pytest.approx(15.0) and comparison["sd"] == 0.0
    assert comparison["mcnemar"]["0"]["only_a"] == 4 and comparison["mcnemar"]["0"]["only_b"] == 1
    assert comparison["mcnemar"]["0"]["p"] == pytest.approx(2 * (1 + 5) / 32)   # 2 P(Bin(5, 1/2) <= 1)
    table = open(tmp_path / "eval" / "significance.md").read()
    assert "Pretrained w/AdvT-Text vs Pretrained" in table and "+15.00" in table and "4 / 1" in table


def test_predictions_of_an_older_run_are_recomputed_once_and_must_reproduce_its_accuracy(synthetic_prepared, tmp_path):
    from interpretable_adv.data import PreparedData
    from interpretable_adv.errors import UsageError
    from interpretable_adv.reports.predictions import test_predictions
    from interpretable_adv.runs import get_device, predictions_path, read_predictions
    from interpretable_adv.training.classifier import train_classifier
    from tests.helpers import tiny_test_config

    run = str(tmp_path / "baseline")
    results = train_classifier(tiny_test_config("train", data=synthetic_prepared, out=run, method="baseline"))
    data = PreparedData(synthetic_prepared)
    saved, labels = read_predictions(run, data.split("test").labels)   # written by iadv train
    assert np.mean(saved == labels) == pytest.approx(results["test_accuracy"])
    os.remove(predictions_path(run))                                    # a run from before the file existed
    predicted, _ = test_predictions(run, data, get_device(-1))
    assert np.array_equal(predicted, saved) and os.path.isfile(predictions_path(run))
    os.remove(predictions_path(run))
    with open(os.path.join(run, "results.json")) as f:
        recorded = json.load(f)
    recorded["test_accuracy"] += 1.0 / len(labels)                      # one review more than the model gets right
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(recorded, f)
    with pytest.raises(UsageError, match="must agree"):
        test_predictions(run, data, get_device(-1))
    assert not os.path.isfile(predictions_path(run))                    # nothing stored from a disagreeing model
