"""Language-model pretraining with truncated BPTT (Appendix B).

The training stream is labeled-train + unlabeled reviews concatenated end to
end (each ends with ``<eos>``), cut into ``batchsize`` parallel streams. Every
update runs ``bptt_len`` steps, back-propagates through them only, and carries
the LSTM state to the next update with its graph cut. Adam(1e-3), gradient
clipping 5.0, and alpha x0.9999 whenever dev perplexity fails to improve at an
evaluation. Dev reviews (never test) are used for validation.

:func:`build_lm_trainer` builds the Chainer Trainer and writes nothing (the
benchmarks use it); :func:`train_language_model` checks and records the run,
trains, and writes ``lm.npz`` and ``results.json``.
"""

import os
import types

import chainer
import numpy as np
from chainer import training

from interpretable_adv.distributed import Distribution, ShardedIterator
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_json
from interpretable_adv.iterators import StreamIterator
from interpretable_adv.runs import build_language_model, open_run, record_run, run_trainer, save_model_with_meta
from interpretable_adv.training.extensions import (
    AlphaDecayOnPlateau,
    EveryNAndAtEnd,
    FiniteGradientCheck,
    PerplexityEvaluator,
    add_standard_extensions,
    min_value_trigger,
)
from interpretable_adv.training.updaters import TBPTTUpdater


def training_tokens(data, max_tokens=None, seed=0):
    """Labeled-train then unlabeled reviews concatenated; optionally a seeded subset of whole reviews."""
    splits = [data.split("train"), data.split("unlabeled")]
    tokens = np.concatenate([s.tokens for s in splits])
    if not max_tokens or len(tokens) <= max_tokens:
        return tokens
    return _review_subset(splits, max_tokens, seed)


def dev_tokens(data, max_tokens=None, seed=0):
    split = data.split("dev")
    if not max_tokens or len(split.tokens) <= max_tokens:
        return split.tokens
    return _review_subset([split], max_tokens, seed)


def _review_subset(splits, max_tokens, seed):
    """Whole reviews drawn at random (fixed seed) until ``max_tokens``, kept in corpus order."""
    reviews = [(s, i) for s in splits for i in range(len(s))]
    order = np.random.RandomState(seed).permutation(len(reviews))
    lengths = np.array([s.offsets[i + 1] - s.offsets[i] for s, i in reviews])
    chosen = np.sort(order[:np.searchsorted(np.cumsum(lengths[order]), max_tokens) + 1])
    return np.concatenate([reviews[k][0].review(reviews[k][1]) for k in chosen])


def check_sizes(config, n_vocab, n_train, n_dev):
    """Settings that only the data can rule out (UsageError): softmax cutoffs, stream lengths."""
    if config["softmax"] == "adaptive" and config["cutoffs"][-1] >= n_vocab:
        raise UsageError("cutoffs %s: the last must be below the vocabulary size %d (or use --softmax full)"
                         % (config["cutoffs"], n_vocab))
    needed = config["batchsize"] * config["bptt_len"] + 1
    if n_train < needed:
        raise UsageError("--batchsize %d x --bptt-len %d needs at least %d training tokens; there are %d "
                         "(see --max-train-tokens)" % (config["batchsize"], config["bptt_len"], needed, n_train))
    if n_dev < 2:
        raise UsageError("the dev stream has %d tokens; perplexity needs at least 2 (see --eval-tokens)" % n_dev)



def build_lm_trainer(config, data, device, train, dev, dist=None):
    """The Trainer of one LM run on the token streams ``train`` and ``dev``, and its parts; writes nothing.

    ``lm.npz`` (with the vocabulary hash and the configuration in ``meta/``)
    is saved whenever dev perplexity reaches a new minimum. With a
    data-parallel ``dist``: the ``N x batchsize`` streams sharded over the
    ranks, ChainerMN's multi-node optimizer, per-rank dropout seeds, every
    rank measuring the same dev perplexity (so alpha decays alike), and the
    writing extensions on rank 0 only.
    """
    dist = dist or Distribution.single()
    model = build_language_model(config, len(data.vocab))
    model.to_device(device)
    optimizer = dist.multi_node_optimizer(chainer.optimizers.Adam(alpha=config["lr"]))
    optimizer.setup(model)
    optimizer.add_hook(FiniteGradientCheck())
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))
    dist.synchronise_parameters(optimizer, model)

    iterator = StreamIterator(train, dist.global_batch(config["batchsize"]), config["bptt_len"])
    if dist.active:
        iterator = ShardedIterator(iterator, dist.rank, dist.size)
    updater = TBPTTUpdater(iterator, optimizer, device)
    if dist.active:
        updater.dropout_seed = lambda iteration: dist.dropout_seed(config["seed"], iteration)
        updater.rank = dist.rank
    total = config.get("max_iterations") or config["epoch"] * iterator.batches_per_epoch
    trainer = training.Trainer(updater, (total, "iteration"), out=config["out"])
    eval_trigger = EveryNAndAtEnd(config.get("eval_interval") or iterator.batches_per_epoch, total)
    trainer.extend(PerplexityEvaluator(model, dev, config["eval_batchsize"], config["eval_bptt_len"], device),
                   trigger=eval_trigger)
    trainer.extend(AlphaDecayOnPlateau(config["alpha_decay"]), trigger=eval_trigger)
    meta = {"vocab_hash": data.vocab.hash, "config": config}
    lm_path = os.path.join(config["out"], "lm.npz")
    if not dist.is_writer:
        return trainer, types.SimpleNamespace(model=model, meta=meta, lm_path=lm_path)
    trainer.extend(lambda t: save_model_with_meta(lm_path, model, meta),
                   trigger=min_value_trigger("validation/main/perplexity", eval_trigger), name="save_best_lm")
    add_standard_extensions(trainer, config, ["epoch", "iteration", "main/perplexity", "validation/main/perplexity",
                                              "main/tokens_per_sec", "alpha", "elapsed_time"], eval_trigger)
    return trainer, types.SimpleNamespace(model=model, meta=meta, lm_path=lm_path)


def train_language_model(config, extra_extensions=()):
    """Pretrain the LM described by ``config``; writes ``lm.npz`` (best dev perplexity) and ``results.json``.

    ``extra_extensions``: ``(extension, trigger)`` pairs added to the trainer.
    """
    out = config["out"]
    dist = Distribution.from_config(config)
    device, data, snapshot = open_run(config, "pretrain", dist)
    train = training_tokens(data, config.get("max_train_tokens"), config["seed"])
    dev = dev_tokens(data, config.get("eval_tokens"), config["seed"])
    check_sizes(dict(config, batchsize=dist.global_batch(config["batchsize"])), len(data.vocab), len(train), len(dev))
    trainer, parts = build_lm_trainer(config, data, device, train, dev, dist)
    record_run(config, "pretrain", data, dist)
    updater = trainer.updater
    wall = run_trainer(trainer, snapshot, extra_extensions)
    if not dist.is_writer:
        return None   # rank 0 writes lm.npz and results.json
    if not os.path.exists(parts.lm_path):
        save_model_with_meta(parts.lm_path, parts.model, parts.meta)
    best = [e for e in trainer.get_extension("LogReport").log if "validation/main/perplexity" in e]
    results = {
        "dev_perplexity_best": min((e["validation/main/perplexity"] for e in best), default=None),
        "dev_perplexity_last": best[-1]["validation/main/perplexity"] if best else None,
        "iterations": updater.iteration,
        "train_tokens": int(len(train)), "dev_tokens": int(len(dev)),
        "wall_time_s": round(wall, 1),
        "vocab_hash": data.vocab.hash,
    }
    atomic_write_json(os.path.join(out, "results.json"), results)
    return results
