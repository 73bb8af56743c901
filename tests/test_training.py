"""Training end to end on synthetic data: learning, LM transfer, resume, reproducibility."""

import json
import os

import numpy as np
import pytest

from interpretable_adv.checkpoints import PretrainedMismatch, load_pretrained
from interpretable_adv.cli import main
from interpretable_adv.data import PreparedData
from interpretable_adv.nets import Classifier
from interpretable_adv.presets import resolve
from interpretable_adv.training.classifier import train_classifier
from interpretable_adv.training.lm import train_language_model
from tests.helpers import straight_then_killed_and_resumed


def tiny(section, data, out, **overrides):
    return resolve("tiny", section, dict(data=data, out=str(out), progress=False, **overrides))


@pytest.fixture(scope="module")
def learnable_data(tmp_path_factory):
    """A synthetic corpus large enough to learn from (about 340 training reviews)."""
    from data_prep.pipeline import prepare_imdb
    from data_prep.synthetic_corpus import write_synthetic_corpus

    root = tmp_path_factory.mktemp("learnable")
    write_synthetic_corpus(str(root / "raw"), n_train=200, n_test=100, n_unsup=200, noise=0.05, seed=11)
    prepare_imdb([str(root / "raw")], str(root / "data"), workers=1, progress=False, log=lambda m: None)
    return str(root / "data")


@pytest.fixture(scope="module")
def tiny_lm(learnable_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "lm"
    results = train_language_model(tiny("pretrain", learnable_data, out, max_iterations=40, eval_interval=20))
    return str(out), results


def test_tiny_classifier_learns_clearly_above_chance(learnable_data, tmp_path):
    results = train_classifier(tiny("train", learnable_data, tmp_path / "run", epoch=6))
    assert results["dev_accuracy_best"] >= 0.8
    assert results["test_accuracy"] >= 0.75
    assert len(results["dev_curve"]) == 6
    saved = json.load(open(tmp_path / "run" / "results.json"))
    assert saved["test_accuracy"] == results["test_accuracy"]
    args = json.load(open(tmp_path / "run" / "args.json"))
    assert args["config"]["epoch"] == 6 and args["seed"] == 0
    assert {"chainer", "numpy", "python"} <= set(args["versions"]) and args["git_commit"]


def test_lm_pretraining_reports_dev_perplexity(tiny_lm):
    out, results = tiny_lm
    assert os.path.isfile(os.path.join(out, "lm.npz"))
    assert results["dev_perplexity_best"] is not None
    # Far below the uniform model's perplexity, i.e. it learned the word distribution.
    n_vocab = len(PreparedData(json.load(open(os.path.join(out, "args.json")))["config"]["data"]).vocab)
    assert results["dev_perplexity_best"] < n_vocab / 2
    log = json.load(open(os.path.join(out, "log")))
    assert any("validation/main/perplexity" in entry for entry in log)


def test_lm_to_classifier_transfer_round_trip(tiny_lm, learnable_data):
    out, _ = tiny_lm
    data = PreparedData(learnable_data)
    config = tiny("train", learnable_data, "unused")
    model = Classifier(len(data.vocab), config["embed_dim"], config["hidden_dim"], config["fc_dim"])
    head_before = model.fc.W.array.copy()
    load_pretrained(model, os.path.join(out, "lm.npz"), data.vocab.hash)
    with np.load(os.path.join(out, "lm.npz")) as lm:
        np.testing.assert_array_equal(model.embed.W.array, lm["embed/W"])
        for i in range(8):
            np.testing.assert_array_equal(getattr(model.rnn[0], "w%d" % i).array, lm["rnn/0/w%d" % i])
            np.testing.assert_array_equal(getattr(model.rnn[0], "b%d" % i).array, lm["rnn/0/b%d" % i])
    np.testing.assert_array_equal(model.fc.W.array, head_before)  # the head stays fresh


def test_pretrained_lm_with_another_vocabulary_is_refused(tiny_lm, learnable_data, tmp_path, capsys):
    out, _ = tiny_lm
    data = PreparedData(learnable_data)
    model = Classifier(len(data.vocab), 16, 32, 8)
    with pytest.raises(PretrainedMismatch, match="vocabulary hash"):
        load_pretrained(model, os.path.join(out, "lm.npz"), "0" * 64)
    wrong_size = Classifier(len(data.vocab), 16, 64, 8)
    with pytest.raises(PretrainedMismatch, match="shape"):
        load_pretrained(wrong_size, os.path.join(out, "lm.npz"), data.vocab.hash)
    # Through the command line: a dataset with another vocabulary, exit status 2, one line.
    from data_prep.pipeline import prepare_imdb
    from data_prep.synthetic_corpus import write_synthetic_corpus
    write_synthetic_corpus(str(tmp_path / "raw"), 20, 10, 20, seed=99)
    prepare_imdb([str(tmp_path / "raw")], str(tmp_path / "other"), workers=1, progress=False, log=lambda m: None)
    code = main(["train", "--preset", "tiny", "--data", str(tmp_path / "other"), "-o", str(tmp_path / "run"),
                 "--pretrained", os.path.join(out, "lm.npz"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "vocabulary hash" in err and "\n" not in err


def test_pretrained_classifier_trains(tiny_lm, learnable_data, tmp_path):
    out, _ = tiny_lm
    results = train_classifier(tiny("train", learnable_data, tmp_path / "run", epoch=2,
                                    pretrained=os.path.join(out, "lm.npz")))
    assert results["pretrained"].endswith("lm.npz") and results["test_accuracy"] > 0


def test_killed_classifier_run_resumes_to_identical_weights(learnable_data, tmp_path):
    straight, resumed = straight_then_killed_and_resumed(
        train_classifier, lambda out: tiny("train", learnable_data, out, epoch=2, snapshot_interval=5,
                                           max_train_examples=120), 10, tmp_path)
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    assert resumed["dev_curve"] == straight["dev_curve"]


def test_killed_lm_run_resumes_to_identical_weights(learnable_data, tmp_path):
    straight, resumed = straight_then_killed_and_resumed(
        train_language_model, lambda out: tiny("pretrain", learnable_data, out, max_iterations=30,
                                               eval_interval=10, snapshot_interval=7), 14, tmp_path)
    assert resumed["dev_perplexity_best"] == straight["dev_perplexity_best"]


def test_same_seed_same_numbers(learnable_data, tmp_path):
    config = dict(epoch=1, max_train_examples=80)
    first = train_classifier(tiny("train", learnable_data, tmp_path / "a", **config))
    second = train_classifier(tiny("train", learnable_data, tmp_path / "b", **config))
    assert first["test_accuracy"] == second["test_accuracy"] and first["dev_curve"] == second["dev_curve"]
    with np.load(tmp_path / "a" / "best_model.npz") as a, np.load(tmp_path / "b" / "best_model.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
