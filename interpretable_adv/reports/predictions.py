"""Each test review's predicted class, per run: the paired outcome McNemar's test compares, beside the accuracy.

``iadv train`` writes ``test_predictions.npz`` beside ``results.json``: the
class its best-on-dev model predicts for every test review, in the test
split's order, and the labels. A run older than that file gets it from
:func:`test_predictions`, which recomputes the predictions from
``best_model.npz`` once (dropout off, as the run's own test evaluation) and
stores them only if they give the run's recorded test accuracy exactly: a
model that evaluates differently twice is a bug, not a measurement.
"""

import os

import numpy as np

from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_path, open_npz, read_json

PREDICTIONS = "test_predictions.npz"


def predictions_path(run_dir):
    return os.path.join(run_dir, PREDICTIONS)


def save_predictions(run_dir, predicted, labels):
    """Write ``test_predictions.npz`` (``predicted``, ``labels``: one int8 per test review) atomically."""
    predicted, labels = np.asarray(predicted, np.int8), np.asarray(labels, np.int8)
    if predicted.shape != labels.shape:
        raise ValueError("predicted %s and labels %s differ in shape" % (predicted.shape, labels.shape))
    with atomic_path(predictions_path(run_dir)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, predicted=predicted, labels=labels)


def read_predictions(run_dir, labels=None):
    """``(predicted, labels)`` of a run's ``test_predictions.npz``, or None when the run has none.

    With ``labels`` (the test split's), a file for other reviews is refused (UsageError).
    """
    path = predictions_path(run_dir)
    if not os.path.isfile(path):
        return None
    with open_npz(path, "test predictions") as z:
        if "predicted" not in z.files or "labels" not in z.files:
            raise UsageError("%s: lacks predicted/labels; remove it (it is recomputed from best_model.npz)" % path)
        predicted, saved_labels = z["predicted"], z["labels"]
    if labels is not None and (saved_labels.shape != np.shape(labels) or not np.array_equal(saved_labels, labels)):
        raise UsageError("%s: predictions of %d reviews whose labels are not the test split's (%d reviews); "
                         "remove it (it is recomputed from best_model.npz)" % (path, len(saved_labels), len(labels)))
    return predicted, saved_labels


def test_predictions(run_dir, data, device):
    """``(predicted, labels)`` over ``data``'s test split for one finished run, recomputed and stored if absent.

    The recomputation must reproduce ``results.json``'s ``test_accuracy`` to the
    review (UsageError otherwise, naming both counts).
    """
    from interpretable_adv.checkpoints import load_run
    from interpretable_adv.iterators import ReviewDataset
    from interpretable_adv.nets import ClassifierLoss
    from interpretable_adv.training.metrics import classifier_metrics

    labels = np.asarray(data.split("test").labels, np.int8)
    saved = read_predictions(run_dir, labels)
    if saved is not None:
        return saved
    results = read_json(os.path.join(run_dir, "results.json"), "run results")
    model, config = load_run(run_dir, data, device)
    test = ReviewDataset(data.split("test"), config.get("max_length"))
    metrics = classifier_metrics(ClassifierLoss(model), test, config["eval_batchsize"], device)
    recorded = int(round(results["test_accuracy"] * len(labels)))
    if metrics["correct"] != recorded:
        raise UsageError("%s: best_model.npz now classifies %d of %d test reviews correctly, results.json recorded %d; "
                         "the same model evaluated twice must agree (another machine's BLAS, or a changed model "
                         "file?)" % (run_dir, metrics["correct"], len(labels), recorded))
    save_predictions(run_dir, metrics["predictions"], labels)
    return metrics["predictions"], labels
