"""Random perturbation (``--method rp``): the control of Miyato et al. 2017, checked against its definition."""

import os

import numpy as np
import pytest

from interpretable_adv import methods
from interpretable_adv.methods import Batch
from interpretable_adv.perturbation import BatchLayout, Perturbation
from interpretable_adv.presets import resolve
from interpretable_adv.training.classifier import train_classifier
from tests.helpers import invoke, straight_then_killed_and_resumed


def _batch(lengths, dim=6, seed=0):
    rng = np.random.RandomState(seed)
    n = sum(lengths)
    return Batch(rng.randn(n, dim).astype(np.float32), rng.randint(2, 30, n), BatchLayout(lengths, np))


def test_rp_is_a_unit_gaussian_direction_per_review_scaled_to_eps():
    """By hand: d_b = eps r_b / ||r_b|| with r drawn from NumPy's generator, whatever the gradient."""
    lengths = [3, 5, 2]
    batch = _batch(lengths)
    np.random.seed(7)
    d = Perturbation("rp", 2.5, perturbation_norm="exact")(batch)
    np.random.seed(7)
    r = np.random.standard_normal((sum(lengths), 6)).astype(np.float32)
    start = 0
    for length in lengths:
        r_b = r[start:start + length]
        np.testing.assert_allclose(d[start:start + length], 2.5 * r_b / np.linalg.norm(r_b), rtol=1e-5)
        assert np.linalg.norm(d[start:start + length]) == pytest.approx(2.5, rel=1e-5)
        start += length
    np.random.seed(7)
    other = _batch(lengths, seed=1)   # another gradient, the same draw: the same d
    np.testing.assert_array_equal(Perturbation("rp", 2.5, perturbation_norm="exact")(other), d)


def test_rp_is_uncorrelated_with_the_gradient_and_advt_is_not():
    """Over many reviews the cosine of d with the gradient averages 0 for rp and 1 for AdvT."""
    batch = _batch([4] * 400, dim=16, seed=3)
    np.random.seed(0)
    cosines = {}
    for name in ("rp", "advt"):
        d = Perturbation(name, 1.0, perturbation_norm="exact")(batch).reshape(400, -1)
        g = batch.grad.reshape(400, -1)
        cosines[name] = float(np.mean((d * g).sum(1) / np.linalg.norm(d, axis=1) / np.linalg.norm(g, axis=1)))
    assert abs(cosines["rp"]) < 0.03 and cosines["advt"] == pytest.approx(1.0, abs=1e-5)


def test_rp_is_registered_as_a_control_row_with_advts_epsilon():
    method = methods.get("rp")
    assert method.paper_eps == methods.get("advt").paper_eps == 5.0 and not method.needs_neighbors
    assert not method.gradient_based and "rp" not in methods.names(gradient=True)
    assert [row.name for row in methods.rows(("control",))] == ["rp"] and methods.row("rp").pretrained
    assert "rp" in [row.name for row in methods.perturbed_rows()]   # it has a Table 1 row


def _tiny(data, out, **overrides):
    return resolve("tiny", "train", dict(data=data, out=str(out), progress=False, method="rp", **overrides))


def test_killed_rp_run_resumes_to_identical_weights(synthetic_prepared, tmp_path):
    """The draws come from NumPy's generator, whose state the snapshots hold: a resume is bit-identical."""
    straight, resumed = straight_then_killed_and_resumed(
        train_classifier, lambda out: _tiny(synthetic_prepared, out, epoch=2, snapshot_interval=4), 7, tmp_path,
        same_files=("best_model.npz",))
    assert resumed["dev_curve"] == straight["dev_curve"]
    assert straight["adversarial"]["eps"] == pytest.approx(5.0 * _tiny(synthetic_prepared, "x")["eps_scale"])


def test_rp_with_eps_0_is_the_clean_loss_twice(synthetic_prepared, tmp_path):
    """Sanity: eps 0 means no attack; rp and AdvT at eps 0 train the same model (the draw changes nothing
    but NumPy's stream, which dropout 0 does not read)."""
    runs = {name: train_classifier(resolve("tiny", "train", dict(data=synthetic_prepared, out=str(tmp_path / name),
                                                                    progress=False, method=name, eps=0.0,
                                                                    dropout=0.0, epoch=1)))
            for name in ("rp", "advt")}
    assert runs["rp"]["dev_curve"] == runs["advt"]["dev_curve"]
    assert runs["rp"]["adversarial"]["mean_loss_adv"] == pytest.approx(runs["rp"]["adversarial"]["mean_loss"])


def test_evaluating_an_rp_run_twice_gives_one_table1(synthetic_prepared, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert invoke(["pretrain", "--preset", "tiny", "--data", synthetic_prepared, "-o", str(runs / "lm"), "--test",
                   "--no-progress"], capsys)[0] == 0
    assert invoke(["train", "--preset", "tiny", "--data", synthetic_prepared, "-o", str(runs / "rp"), "--test",
                   "--no-progress", "--method", "rp", "--pretrained", str(runs / "lm" / "lm.npz")], capsys)[0] == 0
    outputs = []
    for name in ("a", "b"):
        code, _, err = invoke(["evaluate", "--runs", str(runs), "-o", str(tmp_path / name), "--sample", "10",
                               "--no-progress"], capsys)
        assert code == 0, err
        outputs.append(open(os.path.join(tmp_path, name, "results.json")).read())
    assert outputs[0] == outputs[1] and '"rp"' in outputs[0]


def test_rp_refuses_the_lm_term(synthetic_prepared, tmp_path, capsys):
    code, _, err = invoke(["train", "--preset", "tiny", "--data", synthetic_prepared, "-o", str(tmp_path / "x"),
                           "--method", "rp", "--lm-term", "whatever.npz"], capsys)
    assert code == 2 and "--method rp has none" in err and not os.path.exists(tmp_path / "x")
