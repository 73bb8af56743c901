"""Seed aggregation (iadv summarize) and the eps-sweep rule, on hand-written results files."""

import json
import os

import numpy as np
import pytest

from interpretable_adv.cli import main
from interpretable_adv.reports.seed_summary import summarize
from interpretable_adv.reports.sweep import choose_scale, write_sweep_report


def _result(path, test, dev, majority, **adversarial):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "results.json"), "w") as f:
        json.dump({"test_accuracy": test, "dev_accuracy_best": dev, "test_majority_share": majority,
                   "adversarial": adversarial}, f)


def _stats(path, test_examples):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "stats.json"), "w") as f:
        json.dump({"table2": {"train": {"examples": 21246}, "dev": {"examples": 3754},
                              "test": {"examples": test_examples}}}, f)


def test_summarize_gives_mean_sd_every_seed_and_flags_degenerate(tmp_path, capsys):
    tests = {"baseline": [0.70, 0.72, 0.74], "spgd": [0.80, 0.50, 0.82]}
    for seed in range(3):
        _result(str(tmp_path / ("seed%d" % seed) / "baseline"), tests["baseline"][seed], 0.7, 0.55)
        _result(str(tmp_path / ("seed%d" % seed) / "spgd"), tests["spgd"][seed], 0.8, 0.95 if seed == 1 else 0.6)
    _stats(str(tmp_path / "data"), 25000)
    summary = summarize(str(tmp_path), data_dir=str(tmp_path / "data"))
    rows = {r["run"]: r for r in summary["table3"]}
    assert rows["baseline"]["test_mean"] == pytest.approx(72.0)
    assert rows["baseline"]["test_sd"] == pytest.approx(2.0)                  # sample sd of 70, 72, 74
    assert rows["spgd"]["test_sd"] == pytest.approx(np.std([80, 50, 82], ddof=1))
    assert rows["spgd"]["degenerate_seeds"] == [1] and rows["baseline"]["degenerate_seeds"] == []
    assert rows["spgd"]["seeds"]["1"]["test_accuracy"] == pytest.approx(50.0)
    assert rows["pretrained"]["test_mean"] is None
    table = open(tmp_path / "eval" / "table3.md").read()
    assert "DEGENERATE (seed 1)" in table and "paper" in table and "89.83" in table
    assert "seed 1 spgd" in capsys.readouterr().err
    assert os.path.isfile(tmp_path / "eval" / "table3.png")


def test_summarize_hides_paper_figures_off_the_paper_split(tmp_path):
    _result(str(tmp_path / "seed0" / "baseline"), 0.9, 0.9, 0.5)
    _stats(str(tmp_path / "data"), 100)                        # e.g. the synthetic corpus
    assert main(["summarize", "--runs", str(tmp_path), "--data", str(tmp_path / "data")]) == 0
    table = open(tmp_path / "eval" / "table3.md").read()
    assert "NOT on the paper's IMDB split" in table and "89.83" not in table


def test_summarize_without_seed_directories_is_a_clean_error(tmp_path, capsys):
    assert main(["summarize", "--runs", str(tmp_path)]) == 2
    assert "no seedN/" in capsys.readouterr().err


def test_sweep_rule_picks_best_mean_dev_among_non_degenerate_scales(tmp_path):
    dev = {  # scale -> (advt, iadvt, spgd) dev accuracy; 0.1 has the best mean but a degenerate model
        0.01: (0.80, 0.78, 0.79), 0.03: (0.82, 0.81, 0.80), 0.1: (0.90, 0.90, 0.50), 0.3: (0.6, 0.6, 0.6)}
    for scale, values in dev.items():
        for method, value in zip(("advt", "iadvt", "spgd"), values):
            majority = 0.99 if (scale == 0.1 and method == "spgd") else 0.6
            _result(str(tmp_path / ("%s-x%s" % (method, scale))), value, value, majority,
                    eps=1.0, mean_token_perturbation_ratio=0.1)
    _result(str(tmp_path / "advt-eps0"), 0.8, 0.8, 0.6, eps=0.0)
    assert write_sweep_report(str(tmp_path)) == 0.03
    report = open(tmp_path / "sweep.md").read()
    assert "excluded" in report and "advt-eps0" in report and "**chosen**" in report
    grid = {"advt": {0.1: {"dev": 90.0, "degenerate": False}, 0.3: {"dev": 91.0, "degenerate": False}}}
    chosen, _, best = choose_scale(grid)
    assert chosen == 0.3 and best == {"advt": 0.3}
    tie = {"advt": {0.01: {"dev": 90.0, "degenerate": False}, 0.03: {"dev": 90.0, "degenerate": False}}}
    assert choose_scale(tie)[0] == 0.03            # equal dev: the scale closest to the paper's eps


def test_evaluate_table3_flags_and_warns_about_a_degenerate_run(tmp_path, capsys):
    _stats(str(tmp_path / "data"), 25000)
    _result(str(tmp_path / "runs" / "advt"), 0.5, 0.5, 1.0)
    _result(str(tmp_path / "runs" / "pretrained"), 0.8, 0.8, 0.52)
    with open(tmp_path / "runs" / "advt" / "args.json", "w") as f:
        json.dump({"config": {"data": str(tmp_path / "data")}}, f)
    assert main(["evaluate", "--runs", str(tmp_path / "runs"), "--table3-only"]) == 0
    captured = capsys.readouterr()
    assert "advt predicts one class for 100.0%" in captured.err and "pretrained" not in captured.err
    table = open(tmp_path / "runs" / "eval" / "table3.md").read()
    assert "100.0% DEGENERATE" in table and "52.0%" in table


def test_a_table1_lacking_a_figure_is_refused_naming_the_file_and_the_cell(tmp_path):
    from interpretable_adv.errors import UsageError
    from interpretable_adv.reports.seed_summary import read_table1

    cell = {"perplexity": 130.0, "gap": 10.0, "mean_review_perplexity": 131.0, "words_changed": 0.25, "flip_rate": 0.1}
    table = {"original": {"perplexity": 120.0}, "advt": {v: dict(cell) for v in ("direction", "nearest", "continuous")}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"table1": table}))
    assert read_table1(str(path)) == table
    del table["advt"]["nearest"]["gap"]
    path.write_text(json.dumps({"table1": table}))
    with pytest.raises(UsageError, match=r"results.json: not the results.json of `iadv evaluate` \(table1 "
                                         r"advt/nearest lacks gap\)"):
        read_table1(str(path))


def test_one_table1_renderer_shows_one_seed_plainly_and_seeds_as_mean_sd():
    """The same renderer writes `iadv evaluate`'s and `iadv summarize`'s Table 1: numbers, or mean +- sd."""
    from interpretable_adv.reports.table1 import table1_markdown

    cell = {"perplexity": 130.0, "gap": 10.0, "mean_review_perplexity": 131.0, "words_changed": 0.25,
            "flip_rate": 0.125}
    one = {"original": {"perplexity": 120.0},
           "spgd": {v: dict(cell, words_changed=None if v == "continuous" else 0.25)
                    for v in ("direction", "nearest", "continuous")}}
    text = table1_markdown(one, True, "# T", "caption")
    assert "| SPGD | 130.00 | +10.00 | 25.0% | 12.5% | 119.02 (+1.09) |" in text
    assert "| SPGD | continuous | 130.00 | +10.00 | 131.00 | - | 12.5% |" in text

    def stat(value):
        return {"mean": value, "sd": value / 10, "seeds": {"0": value}}

    seeds = {"original": {"perplexity": stat(120.0)},
             "spgd": {v: {k: None if v == "continuous" and k == "words_changed" else stat(x) for k, x in cell.items()}
                      for v in ("direction", "nearest", "continuous")}}
    text = table1_markdown(seeds, False, "# T", "caption")
    assert "| SPGD | 130.00 +- 13.00 | +10.00 +- 1.00 | 25.0 +- 2.5% | 12.5 +- 1.2% |" in text
    assert "119.02" not in text and "Smallest mean `direction` gap among the paper's methods: SPGD" in text
