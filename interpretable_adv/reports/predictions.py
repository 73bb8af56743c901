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
from interpretable_adv.files import read_json
from interpretable_adv.runs import read_predictions, save_predictions


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
