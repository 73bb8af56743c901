"""Classifier training (Appendix B): the five rows of Table 3 (Baseline, Pretrained, +AdvT, +iAdvT, +SPGD).

Adam(1e-3) with alpha x0.9998 after every update, gradient clipping 4.0,
batch 32. Dev accuracy after every epoch, the best-on-dev model kept in
``best_model.npz``, and test accuracy computed **once**, at the end, with that
model; everything lands in ``results.json``.

:func:`build_classifier_trainer` builds the Chainer Trainer of a run and
writes nothing (the benchmarks use it as it is); :func:`train_classifier`
checks and records the run, trains, and writes the results.
"""

import os
import types

import chainer
import numpy as np
from chainer import training
from chainer.training import extensions

from interpretable_adv import methods
from interpretable_adv.checkpoints import load_lm_term, load_pretrained
from interpretable_adv.distributed import Distribution, ShardedIterator
from interpretable_adv.errors import UsageError
from interpretable_adv.files import load_npz
from interpretable_adv.iterators import BucketIterator, PooledReviews, ReviewDataset
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.nets import Classifier, ClassifierLoss
from interpretable_adv.runs import save_predictions, train_run
from interpretable_adv.training.extensions import (
    AccuracyEvaluator,
    AlphaSchedule,
    FiniteGradientCheck,
    NeighborRefresh,
    add_standard_extensions,
    max_value_trigger,
)
from interpretable_adv.training.metrics import classifier_metrics
from interpretable_adv.training.updaters import make_updater


def training_subset(config, data):
    """The training reviews of a run (a seeded subset with ``max_train_examples``) and the dev reviews."""
    limit = config.get("max_train_examples")
    indices = None
    if limit and limit < len(data.split("train")):
        indices = np.sort(np.random.RandomState(config["seed"]).permutation(len(data.split("train")))[:limit])
    return (ReviewDataset(data.split("train"), config.get("max_length"), indices),
            ReviewDataset(data.split("dev"), config.get("max_length")))


def check_with_data(config, data):
    """Settings only the dataset can rule out (UsageError before anything is written)."""
    if methods.get(config["method"]).needs_neighbors and not 1 <= config["n_neighbors"] < len(data.vocab) - 1:
        raise UsageError("--n-neighbors %d: K must be below the vocabulary size minus one (%d)"
                         % (config["n_neighbors"], len(data.vocab) - 1))


def build_classifier_trainer(config, data, device, dist=None):
    """The Trainer of one classifier run and its parts (a namespace); reads files, writes none.

    Model (with ``--pretrained`` loaded), Adam with the NaN/inf guard and
    gradient clipping, the length-bucketed iterator, the neighbour table and
    its refresh (iAdvT, SPGD), the updater of ``config['method']``, the alpha
    schedule, dev accuracy every epoch, ``best_model.npz`` on the best dev
    accuracy, and the standard log/snapshot set. With a data-parallel
    ``dist`` (:mod:`interpretable_adv.distributed`): global batches sharded
    over the ranks, ChainerMN's multi-node optimizer, per-rank dropout seeds,
    dev counted over shards, and the writing extensions on rank 0 only.
    """
    dist = dist or Distribution.single()
    train, dev = training_subset(config, data)
    if dist.active:
        dev = ReviewDataset(data.split("dev"), config.get("max_length"),
                            np.arange(len(data.split("dev")))[dist.rank::dist.size])
    model = Classifier.from_config(config, len(data.vocab))
    if config.get("pretrained"):
        load_pretrained(model, config["pretrained"], data.vocab.hash)
    model.to_device(device)
    model_loss = ClassifierLoss(model)
    optimizer = dist.multi_node_optimizer(chainer.optimizers.Adam(alpha=config["lr"]))
    optimizer.setup(model_loss)
    optimizer.add_hook(FiniteGradientCheck())
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))
    dist.synchronise_parameters(optimizer, model_loss)

    iterator = BucketIterator(train, dist.global_batch(config["batchsize"]), bucket_batches=config["bucket_batches"],
                              seed=config["seed"])
    if dist.active:
        iterator = ShardedIterator(iterator, dist.rank, dist.size)
    unlabeled = pool = None
    if methods.get(config["method"]).virtual:   # the unlabeled pool: unlabeled split + training reviews, never dev
        pool = PooledReviews(ReviewDataset(data.split("unlabeled"), config["max_length"]), train)
        unlabeled = BucketIterator(pool, dist.global_batch(config["unlabeled_batchsize"]),
                                   bucket_batches=config["bucket_batches"], seed=(config["seed"] + 1) % 2 ** 32)
        if dist.active:
            unlabeled = ShardedIterator(unlabeled, dist.rank, dist.size)
    neighbors = None
    if methods.get(config["method"]).needs_neighbors:
        neighbors = NeighborTable(config["n_neighbors"], config["neighbor_mode"])
    updater = make_updater(config, iterator, optimizer, device, neighbors, load_lm_term(config, data, device),
                           unlabeled)
    if dist.active:
        updater.dropout_seed = lambda iteration: dist.dropout_seed(config["seed"], iteration)
    trainer = training.Trainer(updater, (config["epoch"], "epoch"), out=config["out"])
    if neighbors is not None:
        trainer.extend(NeighborRefresh(neighbors, model.embed, device),
                       trigger=(config["neighbor_interval"], config["neighbor_interval_unit"]))
    trainer.extend(AlphaSchedule(config["lr"], config["lr_decay"], config["lr_warmup"]))
    trainer.extend(AccuracyEvaluator(model_loss, dev, config["eval_batchsize"], device, dist), trigger=(1, "epoch"))
    if not dist.is_writer:
        return trainer, types.SimpleNamespace(model=model, model_loss=model_loss, neighbors=neighbors, train=train,
                                              dev=dev, unlabeled=pool)
    trainer.extend(extensions.snapshot_object(model, "best_model.npz"),
                   trigger=max_value_trigger("validation/main/accuracy", (1, "epoch")))
    keys = ["epoch", "iteration", "main/loss", "main/accuracy", "validation/main/accuracy",
            "validation/main/majority_share"]
    if methods.get(config["method"]).adversarial:
        keys += ["main/loss_adv", "main/perturbation_norm", "main/perturbed_share", "main/token_perturbation_ratio"]
    if config.get("lm_term"):
        keys += ["main/lm_grad_share"]
    add_standard_extensions(trainer, config, keys + ["main/tokens_per_sec", "alpha", "elapsed_time"], (1, "epoch"))
    return trainer, types.SimpleNamespace(model=model, model_loss=model_loss, neighbors=neighbors, train=train,
                                          dev=dev, unlabeled=pool)


def _mean_of(trainer, key):
    values = [e[key] for e in trainer.get_extension("LogReport").log if key in e]
    return float(np.mean(values)) if values else None


def train_classifier(config, extra_extensions=()):
    """Train one classifier; returns the content of ``results.json``.

    ``extra_extensions``: ``(extension, trigger)`` pairs added to the trainer.
    """
    return train_run(config, "train", _checked_trainer, _final_results, extra_extensions)


def _checked_trainer(config, data, device, dist):
    check_with_data(config, data)
    return build_classifier_trainer(config, data, device, dist)


def _final_results(config, data, device, trainer, parts, dist, wall):
    """``results.json`` of a finished run: test accuracy of the best-on-dev model (computed here, once)."""
    out = config["out"]
    model, model_loss, neighbors, train = parts.model, parts.model_loss, parts.neighbors, parts.train
    log = [e for e in trainer.get_extension("LogReport").log if "validation/main/accuracy" in e]
    best = max(log, key=lambda e: e["validation/main/accuracy"]) if log else None
    load_npz(os.path.join(out, "best_model.npz"), model, "best model")
    test = classifier_metrics(model_loss, ReviewDataset(data.split("test"), config.get("max_length")),
                              config["eval_batchsize"], device)
    save_predictions(out, test["predictions"], data.split("test").labels)   # for the paired tests (McNemar)
    speeds = [e["main/tokens_per_sec"] for e in trainer.get_extension("LogReport").log if "main/tokens_per_sec" in e]
    adversarial = {}
    if methods.get(config["method"]).adversarial:
        adversarial = {"eps": trainer.updater.eps, "mean_perturbation_norm": _mean_of(trainer, "main/perturbation_norm"),
                       "mean_perturbed_share": _mean_of(trainer, "main/perturbed_share"),
                       "mean_token_perturbation_norm": _mean_of(trainer, "main/token_perturbation_norm"),
                       "mean_token_perturbation_ratio": _mean_of(trainer, "main/token_perturbation_ratio"),
                       "mean_loss_adv": _mean_of(trainer, "main/loss_adv"), "mean_loss": _mean_of(trainer, "main/loss")}
        if config.get("lm_term"):
            adversarial.update(lm_term=config["lm_term"], lm_weight=config["lm_weight"],
                               lm_input=config["lm_input"], mean_lm_grad_share=_mean_of(trainer, "main/lm_grad_share"))
        if neighbors is not None:
            adversarial.update(neighbor_refreshes=neighbors.refreshes, neighbor_rows_computed=neighbors.rows_computed)
    results = {
        "method": config["method"],
        "ranks": dist.size,
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
    return results
