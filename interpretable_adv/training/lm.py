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

from interpretable_adv.checkpoints import init_language_model, save_model_with_meta
from interpretable_adv.distributed import Distribution, ShardedIterator
from interpretable_adv.errors import UsageError
from interpretable_adv.files import load_npz
from interpretable_adv.iterators import StreamIterator
from interpretable_adv.nets import LanguageModel
from interpretable_adv.runs import train_run
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
    return _stream([data.split("train"), data.split("unlabeled")], max_tokens, seed)[0]


def dev_tokens(data, max_tokens=None, seed=0):
    return _stream([data.split("dev")], max_tokens, seed)[0]


def labelled_stream(data, split, max_tokens=None, seed=0):
    """(tokens, one label per token) of a labelled split's reviews, for the class-conditional LM."""
    return _stream([data.split(split)], max_tokens, seed)


def lm_streams(config, data):
    """The training and dev streams of a ``pretrain`` configuration: ``(train, train_labels, dev, dev_labels)``.

    Unconditional: labeled-train + unlabeled reviews (labels None). Class-
    conditional (``--conditional``): the labelled training reviews only, with
    their labels; dev the same way.
    """
    if config.get("conditional"):
        train, train_labels = labelled_stream(data, "train", config.get("max_train_tokens"), config["seed"])
        dev, dev_labels = labelled_stream(data, "dev", config.get("eval_tokens"), config["seed"])
        return train, train_labels, dev, dev_labels
    return (training_tokens(data, config.get("max_train_tokens"), config["seed"]), None,
            dev_tokens(data, config.get("eval_tokens"), config["seed"]), None)


def _stream(splits, max_tokens, seed):
    """The splits' reviews end to end and each token's review label; with ``max_tokens``, whole reviews
    drawn at random (fixed seed) until ``max_tokens``, kept in corpus order."""
    lengths = np.concatenate([np.diff(s.offsets) for s in splits])
    labels = np.concatenate([s.labels for s in splits]).astype(np.int32)
    tokens = np.concatenate([s.tokens for s in splits])
    if max_tokens and len(tokens) > max_tokens:
        order = np.random.RandomState(seed).permutation(len(lengths))
        chosen = np.zeros(len(lengths), dtype=bool)
        chosen[order[:np.searchsorted(np.cumsum(lengths[order]), max_tokens) + 1]] = True
        tokens = tokens[np.repeat(chosen, lengths)]
        lengths, labels = lengths[chosen], labels[chosen]
    return tokens, np.repeat(labels, lengths)


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



def build_lm_trainer(config, data, device, train, dev, dist=None, train_labels=None, dev_labels=None):
    """The Trainer of one LM run on the token streams ``train`` and ``dev``, and its parts; writes nothing.

    ``train_labels``/``dev_labels``: one class per token, for a class-conditional LM
    (``config['conditional']``); ``config['init']``: an LM checkpoint every
    parameter starts from (the conditional LM's zero label embeddings excepted).

    ``lm.npz`` (with the vocabulary hash and the configuration in ``meta/``)
    is saved whenever dev perplexity reaches a new minimum. With a
    data-parallel ``dist``: the ``N x batchsize`` streams sharded over the
    ranks, ChainerMN's multi-node optimizer, per-rank dropout seeds, every
    rank measuring the same dev perplexity (so alpha decays alike), and the
    writing extensions on rank 0 only.
    """
    dist = dist or Distribution.single()
    model = LanguageModel.from_config(config, len(data.vocab))
    if config.get("init"):
        init_language_model(model, config["init"], data.vocab.hash)
    model.to_device(device)
    optimizer = dist.multi_node_optimizer(chainer.optimizers.Adam(alpha=config["lr"]))
    optimizer.setup(model)
    optimizer.add_hook(FiniteGradientCheck())
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))
    dist.synchronise_parameters(optimizer, model)

    iterator = StreamIterator(train, dist.global_batch(config["batchsize"]), config["bptt_len"],
                              labels=train_labels)
    if dist.active:
        iterator = ShardedIterator(iterator, dist.rank, dist.size)
    updater = TBPTTUpdater(iterator, optimizer, device)
    if dist.active:
        updater.dropout_seed = lambda iteration: dist.dropout_seed(config["seed"], iteration)
        updater.rank = dist.rank
    total = config.get("max_iterations") or config["epoch"] * iterator.batches_per_epoch
    trainer = training.Trainer(updater, (total, "iteration"), out=config["out"])
    eval_trigger = EveryNAndAtEnd(config.get("eval_interval") or iterator.batches_per_epoch, total)
    trainer.extend(PerplexityEvaluator(model, dev, config["eval_batchsize"], config["eval_bptt_len"], device,
                                       dev_labels), trigger=eval_trigger)
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
    return train_run(config, "pretrain", _checked_trainer, _final_results, extra_extensions)


def _checked_trainer(config, data, device, dist):
    train, train_labels, dev, dev_labels = lm_streams(config, data)
    check_sizes(dict(config, batchsize=dist.global_batch(config["batchsize"])), len(data.vocab), len(train), len(dev))
    trainer, parts = build_lm_trainer(config, data, device, train, dev, dist, train_labels, dev_labels)
    parts.train, parts.dev, parts.dev_labels = train, dev, dev_labels
    return trainer, parts


def _final_results(config, data, device, trainer, parts, dist, wall):
    """``results.json`` of a finished LM run (and ``lm.npz`` if no dev evaluation wrote it)."""
    if not os.path.exists(parts.lm_path):
        save_model_with_meta(parts.lm_path, parts.model, parts.meta)
    best = [e for e in trainer.get_extension("LogReport").log if "validation/main/perplexity" in e]
    results = {
        "dev_perplexity_best": min((e["validation/main/perplexity"] for e in best), default=None),
        "dev_perplexity_last": best[-1]["validation/main/perplexity"] if best else None,
        "iterations": trainer.updater.iteration,
        "train_tokens": int(len(parts.train)), "dev_tokens": int(len(parts.dev)),
        "wall_time_s": round(wall, 1),
        "vocab_hash": data.vocab.hash,
    }
    if config.get("conditional"):
        results.update(conditional_dev_check(parts, config, data, device, parts.dev, parts.dev_labels))
    return results


def conditional_dev_check(parts, config, data, device, dev, dev_labels):
    """Does the best conditional LM use its label? Dev perplexity with the true and the flipped labels, and
    the share of dev reviews it explains better under their own label.

    A class-conditional LM that learned ``p_l(x | y)`` explains dev reviews
    better under their own label than under the other one; equal figures mean
    the label embedding is ignored. Per token the difference is necessarily
    small (a review's label is worth at most a few nats spread over hundreds
    of tokens); per review, ``argmax_y log p_l(x | y)`` is a generative
    classifier whose accuracy shows the conditioning directly.
    """
    from interpretable_adv.training.metrics import stream_perplexity

    best = LanguageModel.from_config(config, len(data.vocab))
    load_npz(parts.lm_path, best, "lm.npz")
    best.to_device(device)
    size, steps = config["eval_batchsize"], config["eval_bptt_len"]
    true_ppl = stream_perplexity(best, dev, size, steps, device, dev_labels)[0]
    flipped_ppl = stream_perplexity(best, dev, size, steps, device, 1 - dev_labels)[0]
    return {"dev_perplexity_true_label": true_ppl, "dev_perplexity_flipped_label": flipped_ppl,
            "dev_label_accuracy": label_accuracy(best, data.split("dev"), device, seed=config["seed"]),
            "dev_label_accuracy_reviews": min(LABEL_CHECK_REVIEWS, len(data.split("dev")))}


LABEL_CHECK_REVIEWS = 1000


def label_accuracy(lm, split, device, n_reviews=LABEL_CHECK_REVIEWS, batch_size=50, seed=0):
    """Share of ``n_reviews`` (a seeded sample) of ``split`` with ``log p_l(x | y) > log p_l(x | 1 - y)``.

    Each review read on its own (state reset, ``<eos>`` as the start
    symbol, as in Table 1), dropout off.
    """
    from interpretable_adv.lm_term import LMTerm
    from interpretable_adv.perturbation import BatchLayout

    term, xp = LMTerm(lm), device.xp
    chosen = np.sort(np.random.RandomState(seed).permutation(len(split))[:n_reviews])
    correct = 0
    with chainer.no_backprop_mode():
        for start in range(0, len(chosen), batch_size):
            reviews = [split.review(i) for i in chosen[start:start + batch_size]]
            labels = xp.asarray(split.labels[chosen[start:start + batch_size]], dtype=np.int32)
            layout = BatchLayout([len(r) for r in reviews], xp)
            words = xp.asarray(np.concatenate(reviews), dtype=np.int32)

            def review_nll(y):
                nll, _ = term.review_nll(words, layout, y)
                return xp.bincount(layout.batch, weights=nll.array, minlength=len(reviews))

            correct += int((review_nll(labels) < review_nll(1 - labels)).sum())
    return correct / len(chosen)
