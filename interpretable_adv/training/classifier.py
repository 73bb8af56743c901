"""Classifier training (Appendix B): Baseline and Pretrained rows of Table 3.

Adam(1e-3) with alpha x0.9998 after every update, gradient clipping 4.0,
batch 32. Dev accuracy after every epoch, the best-on-dev model kept in
``best_model.npz``, and test accuracy computed **once**, at the end, with that
model; everything lands in ``results.json``.
"""

import os
import time

import chainer
import chainer.functions as F
import numpy as np
from chainer import training
from chainer.training import extensions

from interpretable_adv.iterators import BucketIterator, ReviewDataset, review_converter
from interpretable_adv.neighbors import NeighborRefresh, NeighborTable
from interpretable_adv.nets import Classifier, ClassifierLoss
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_json, load_npz, open_npz
from interpretable_adv.presets.schema import METHODS
from interpretable_adv.training.common import (
    FiniteGradientCheck,
    add_standard_extensions,
    max_value_trigger,
    read_meta,
    run_trainer,
    serialize_run_state,
    open_run,
    record_run,
)


class PretrainedMismatch(UsageError):
    """The language-model checkpoint does not fit the classifier or the dataset."""


def load_pretrained(classifier, lm_path, vocab_hash):
    """Initialise ``classifier.embed`` and ``classifier.rnn`` from an LM checkpoint (``lm.npz``).

    Refuses (PretrainedMismatch) when the LM was trained on another
    vocabulary (hash differs) or its shapes differ. The head stays fresh.
    """
    if not os.path.isfile(lm_path):
        raise PretrainedMismatch("--pretrained %s: no such file" % lm_path)
    meta = read_meta(lm_path, "--pretrained")
    lm_hash = meta.get("vocab_hash")
    if lm_hash != vocab_hash:
        raise PretrainedMismatch("--pretrained %s: vocabulary hash %s does not match the dataset's %s; "
                                 "the LM was trained on a different vocabulary" % (lm_path, lm_hash, vocab_hash))
    with open_npz(lm_path, "--pretrained") as z:
        for name, param in classifier.namedparams():
            key = name.lstrip("/")
            if not (key.startswith("embed/") or key.startswith("rnn/")):
                continue
            if key not in z.files:
                raise PretrainedMismatch("--pretrained %s: no parameter %s" % (lm_path, key))
            if z[key].shape != param.shape:
                raise PretrainedMismatch("--pretrained %s: %s has shape %s, the classifier needs %s (use the "
                                         "LM's --embed-dim/--hidden-dim)" % (lm_path, key, z[key].shape, param.shape))
            param.array[...] = chainer.backend.get_array_module(param.array).asarray(z[key])


class ClassifierUpdater(training.updaters.StandardUpdater):
    """One classifier update per batch; subclasses override :meth:`loss`.

    Reports ``main/tokens_per_sec`` (update step only) and snapshots NumPy's
    global random state (CPU dropout) for bit-identical resumes.
    """

    def __init__(self, iterator, optimizer, device):
        super().__init__(iterator, optimizer, converter=review_converter, device=device)

    def compute_gradients(self, model_loss, xs, t):
        """Fill the parameter gradients for one batch (``model_loss``: the :class:`ClassifierLoss`)."""
        loss = model_loss(xs, t)
        model_loss.cleargrads()
        loss.backward()

    def update_core(self):
        iterator = self.get_iterator("main")
        optimizer = self.get_optimizer("main")
        batch = iterator.next()
        start = time.time()
        xs, t = self.converter(batch, self.device)
        self.compute_gradients(optimizer.target, xs, t)
        optimizer.update()
        chainer.report({"tokens_per_sec": sum(len(x) for x in xs) / max(time.time() - start, 1e-9)},
                       optimizer.target)

    def serialize(self, serializer):
        super().serialize(serializer)
        serialize_run_state(serializer, self.get_optimizer("main"))


def build_classifier(config, n_vocab):
    return Classifier(n_vocab, embed_dim=config["embed_dim"], hidden_dim=config["hidden_dim"],
                      fc_dim=config["fc_dim"], dropout=config["dropout"], fc_bias=config.get("fc_bias", 0.0),
                      readout=config.get("readout", "eos"))


def evaluate(model_loss, dataset, batch_size, device):
    """Accuracy, loss and predicted-class shares of ``model_loss`` on ``dataset``.

    Under ``chainer.using_config('train', False)`` (dropout off, so two calls
    give identical results) and without a graph. Every figure is over
    examples, not batches: accuracy = correct predictions / examples, loss =
    summed cross-entropy / examples, so a short last batch weighs what it
    holds. ``majority_share`` is the share of the most frequent predicted
    class (1.0 for a model that predicts one class for every review).
    """
    predictor = model_loss.predictor
    iterator = BucketIterator(dataset, batch_size, repeat=False, shuffle=False)
    correct, total_loss, n = 0, 0.0, 0
    counts = None
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for batch in iterator:
            xs, t = review_converter(batch, device)
            logits = predictor(xs)
            total_loss += float(F.softmax_cross_entropy(logits, t, reduce="no").array.sum())
            predicted = chainer.backends.cuda.to_cpu(logits.array.argmax(axis=1))
            labels = chainer.backends.cuda.to_cpu(t)
            correct += int((predicted == labels).sum())
            batch_counts = np.bincount(predicted, minlength=logits.shape[1])
            counts = batch_counts if counts is None else counts + batch_counts
            n += len(labels)
    if n == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    return {"accuracy": correct / n, "loss": total_loss / n, "examples": n,
            "majority_share": float(counts.max()) / n, "predicted_counts": counts.tolist()}


class AccuracyEvaluator(training.Extension):
    """Dev evaluation for the trainer: reports ``validation/main/{accuracy,loss,majority_share}``.

    Replaces Chainer's ``Evaluator``, whose accuracy is the mean of per-batch
    means; this one counts examples (see :func:`evaluate`).
    """

    trigger = 1, "epoch"
    priority = training.PRIORITY_WRITER

    def __init__(self, model_loss, dataset, batch_size, device):
        self.model_loss, self.dataset = model_loss, dataset
        self.batch_size, self.device = batch_size, device

    def __call__(self, trainer):
        result = evaluate(self.model_loss, self.dataset, self.batch_size, self.device)
        chainer.report({"validation/main/" + key: result[key] for key in ("accuracy", "loss", "majority_share")})


class AlphaSchedule(training.Extension):
    """Adam's alpha before update ``t + 1``: ``lr * decay**t * min(1, (t + 1) / warmup)``.

    ``decay`` is the paper's per-update factor (Appendix B / upstream: 0.9998);
    with ``warmup = 0`` this is exactly Chainer's ``ExponentialShift`` (same
    formula, same floats). ``warmup > 0`` ramps alpha up linearly over the
    first ``warmup`` updates (not in the paper; an option of the reduced
    presets, see the README). Stateless: the value follows from the iteration,
    so a resumed run continues the same schedule.
    """

    trigger = 1, "iteration"
    priority = training.PRIORITY_WRITER

    def __init__(self, lr, decay, warmup=0):
        if warmup < 0:
            raise ValueError("lr_warmup must be >= 0, got %r" % warmup)
        self.lr, self.decay, self.warmup = lr, decay, warmup

    def alpha(self, t):
        """alpha for update ``t + 1`` (``t`` updates done)."""
        ramp = min(1.0, (t + 1) / self.warmup) if self.warmup else 1.0
        return self.lr * (self.decay ** t) * ramp

    def __call__(self, trainer):
        trainer.updater.get_optimizer("main").alpha = self.alpha(trainer.updater.iteration)

    initialize = __call__   # before the first update, and again after a resume


def make_updater(config, iterator, optimizer, device, neighbors):
    """The updater for ``config['method']``: plain training or adversarial training."""
    method = config["method"]
    if method not in METHODS:
        raise ValueError("--method must be one of %s, got %r" % (", ".join(METHODS), method))
    if method == "baseline":
        return ClassifierUpdater(iterator, optimizer, device)
    from interpretable_adv.training.adversarial import AdversarialUpdater, resolved_eps
    return AdversarialUpdater(iterator, optimizer, device, method, eps=resolved_eps(config),
                              adv_weight=config["adv_weight"], neighbors=neighbors, sigma=config["sigma"],
                              spgd_steps=config["spgd_steps"], norm=config["perturbation_norm"],
                              iadvt_weights=config["iadvt_weights"], towards_only=config["towards_only"],
                              spgd_rank=config["spgd_rank"], dropout_masks=config["dropout_masks"])


def _mean_of(trainer, key):
    values = [e[key] for e in trainer.get_extension("LogReport").log if key in e]
    return float(np.mean(values)) if values else None


def train_classifier(config, extra_extensions=()):
    """Train one classifier; returns the content of ``results.json``.

    ``extra_extensions``: ``(extension, trigger)`` pairs added to the trainer.
    """
    out = config["out"]
    device, data, snapshot = open_run(config, "train")
    if config["method"] in ("iadvt", "spgd") and not 1 <= config["n_neighbors"] < len(data.vocab) - 1:
        raise UsageError("--n-neighbors %d: K must be below the vocabulary size minus one (%d)"
                         % (config["n_neighbors"], len(data.vocab) - 1))

    limit = config.get("max_train_examples")
    indices = None
    if limit and limit < len(data.split("train")):
        indices = np.sort(np.random.RandomState(config["seed"]).permutation(len(data.split("train")))[:limit])
    train = ReviewDataset(data.split("train"), config.get("max_length"), indices)
    dev = ReviewDataset(data.split("dev"), config.get("max_length"))

    model = build_classifier(config, len(data.vocab))
    if config.get("pretrained"):
        load_pretrained(model, config["pretrained"], data.vocab.hash)
    record_run(config, "train", data)
    model.to_device(device)
    model_loss = ClassifierLoss(model)
    optimizer = chainer.optimizers.Adam(alpha=config["lr"])
    optimizer.setup(model_loss)
    optimizer.add_hook(FiniteGradientCheck())
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))

    iterator = BucketIterator(train, config["batchsize"], bucket_batches=config["bucket_batches"],
                              seed=config["seed"])
    neighbors = None
    if config["method"] in ("iadvt", "spgd"):
        neighbors = NeighborTable(config["n_neighbors"], config["neighbor_mode"])
    updater = make_updater(config, iterator, optimizer, device, neighbors)
    trainer = training.Trainer(updater, (config["epoch"], "epoch"), out=out)
    if neighbors is not None:
        trainer.extend(NeighborRefresh(neighbors, model.embed, device),
                       trigger=(config["neighbor_interval"], config["neighbor_interval_unit"]))
    trainer.extend(AlphaSchedule(config["lr"], config["lr_decay"], config.get("lr_warmup", 0)))
    trainer.extend(AccuracyEvaluator(model_loss, dev, config["eval_batchsize"], device), trigger=(1, "epoch"))
    trainer.extend(extensions.snapshot_object(model, "best_model.npz"),
                   trigger=max_value_trigger("validation/main/accuracy", (1, "epoch")))
    keys = ["epoch", "iteration", "main/loss", "main/accuracy", "validation/main/accuracy",
            "validation/main/majority_share"]
    if config["method"] != "baseline":
        keys += ["main/loss_adv", "main/perturbation_norm", "main/perturbed_share", "main/token_perturbation_ratio"]
    add_standard_extensions(trainer, config, keys + ["main/tokens_per_sec", "alpha", "elapsed_time"], (1, "epoch"))
    wall = run_trainer(trainer, snapshot, extra_extensions)

    log = [e for e in trainer.get_extension("LogReport").log if "validation/main/accuracy" in e]
    best = max(log, key=lambda e: e["validation/main/accuracy"]) if log else None
    load_npz(os.path.join(out, "best_model.npz"), model, "best model")
    test = evaluate(model_loss, ReviewDataset(data.split("test"), config.get("max_length")),
                    config["eval_batchsize"], device)
    speeds = [e["main/tokens_per_sec"] for e in trainer.get_extension("LogReport").log if "main/tokens_per_sec" in e]
    adversarial = {}
    if config["method"] != "baseline":
        adversarial = {"eps": updater.eps, "mean_perturbation_norm": _mean_of(trainer, "main/perturbation_norm"),
                       "mean_perturbed_share": _mean_of(trainer, "main/perturbed_share"),
                       "mean_token_perturbation_norm": _mean_of(trainer, "main/token_perturbation_norm"),
                       "mean_token_perturbation_ratio": _mean_of(trainer, "main/token_perturbation_ratio"),
                       "mean_loss_adv": _mean_of(trainer, "main/loss_adv"), "mean_loss": _mean_of(trainer, "main/loss")}
        if neighbors is not None:
            adversarial.update(neighbor_refreshes=neighbors.refreshes, neighbor_rows_computed=neighbors.rows_computed)
    results = {
        "method": config["method"],
        "adversarial": adversarial,
        "pretrained": config.get("pretrained"),
        "dev_accuracy_best": best["validation/main/accuracy"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_examples": test["examples"],
        "test_majority_share": test["majority_share"],
        "test_predicted_counts": test["predicted_counts"],
        "dev_majority_share_best": best.get("validation/main/majority_share") if best else None,
        "dev_curve": [{"epoch": e["epoch"], "accuracy": e["validation/main/accuracy"],
                       "majority_share": e.get("validation/main/majority_share")} for e in log],
        "train_examples": len(train),
        "train_tokens_per_epoch": train.n_tokens,
        "tokens_per_sec_mean": float(np.mean(speeds)) if speeds else None,
        "wall_time_s": round(wall, 1),
        "vocab_hash": data.vocab.hash,
    }
    atomic_write_json(os.path.join(out, "results.json"), results)
    return results
