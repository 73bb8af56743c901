"""Language-model pretraining with truncated BPTT (Appendix B, DESIGN section 4).

The training stream is labeled-train + unlabeled reviews concatenated end to
end (each ends with ``<eos>``), cut into ``batchsize`` parallel streams. Every
update runs ``bptt_len`` steps, back-propagates through them only, and carries
the LSTM state to the next update with its graph cut. Adam(1e-3), gradient
clipping 5.0, and alpha x0.9999 whenever dev perplexity fails to improve at an
evaluation. Dev reviews (never test) are used for validation.
"""

import math
import os
import time

import chainer
import chainer.functions as F
import numpy as np
from chainer import training

from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_json
from interpretable_adv.iterators import StreamIterator
from interpretable_adv.nets import LanguageModel
from interpretable_adv.training.common import (
    FiniteGradientCheck,
    add_standard_extensions,
    min_value_trigger,
    run_trainer,
    save_model_with_meta,
    serialize_run_state,
    open_run,
    record_run,
)


class TBPTTUpdater(training.updaters.StandardUpdater):
    """One truncated-BPTT step per update; the LSTM state is carried and detached.

    The carried state and NumPy's global random state are part of the
    snapshot, so a resumed run continues exactly where it stopped. The state
    is reset when the streams wrap around at the end of an epoch.
    """

    def __init__(self, iterator, optimizer, device):
        super().__init__(iterator, optimizer, device=device)
        self.state = None

    def update_core(self):
        iterator = self.get_iterator("main")
        optimizer = self.get_optimizer("main")
        model = optimizer.target
        x, t = iterator.next()
        start = time.time()
        x, t = self.device.send(x), self.device.send(t)
        loss, state = model(x, t, self.state)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        self.state = None if iterator.is_new_epoch else tuple(chainer.Variable(s.array) for s in state)
        loss_value = float(loss.array)
        chainer.report({"loss": loss_value, "perplexity": math.exp(min(loss_value, 50.0)),
                        "tokens_per_sec": x.size / max(time.time() - start, 1e-9)}, model)

    def serialize(self, serializer):
        super().serialize(serializer)
        serialize_run_state(serializer, self.get_optimizer("main"))
        loading = isinstance(serializer, chainer.serializer.Deserializer)
        has_state = serializer("has_state", self.state is not None)
        hx = cx = None
        if not loading and self.state is not None:
            hx, cx = (chainer.backends.cuda.to_cpu(s.array) for s in self.state)
        if has_state:
            hx, cx = serializer("hx", hx), serializer("cx", cx)
        if loading:
            self.state = (tuple(chainer.Variable(self.device.send(np.asarray(a))) for a in (hx, cx))
                          if has_state else None)


def stream_perplexity(model, tokens, batch_size, bptt_len, device):
    """exp(mean NLL per token) over ``tokens`` read as ``batch_size`` streams, state carried.

    Dropout off, no graph. Returns (perplexity, mean NLL, number of tokens).
    """
    iterator = StreamIterator(tokens, batch_size, bptt_len, repeat=False)
    total, count, state = 0.0, 0, None
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for x, t in iterator:
            nll, state = model.token_nll(device.send(x), device.send(t), state)
            total += float(F.sum(nll).array)
            count += t.size
    mean = total / count
    return math.exp(mean), mean, count


class PerplexityEvaluator(training.Extension):
    """Reports ``validation/main/perplexity`` and ``validation/main/loss`` on dev."""

    trigger = 1, "epoch"
    priority = training.PRIORITY_WRITER

    def __init__(self, model, tokens, batch_size, bptt_len, device):
        self.model, self.tokens = model, tokens
        self.batch_size, self.bptt_len, self.device = batch_size, bptt_len, device

    def __call__(self, trainer):
        ppl, mean, _ = stream_perplexity(self.model, self.tokens, self.batch_size, self.bptt_len, self.device)
        chainer.report({"validation/main/perplexity": ppl, "validation/main/loss": mean})


class EveryNAndAtEnd:
    """Trigger at every ``n``-th iteration and at the last one (so the final model is evaluated)."""

    def __init__(self, n, total):
        self.n, self.total = n, total

    def __call__(self, trainer):
        iteration = trainer.updater.iteration
        return iteration % self.n == 0 or iteration == self.total

    def serialize(self, serializer):
        pass  # stateless: a function of the iteration count


class AlphaDecayOnPlateau(training.Extension):
    """Multiply Adam's alpha by ``rate`` when dev perplexity did not improve (Appendix B: 0.9999)."""

    priority = training.PRIORITY_READER

    def __init__(self, rate, key="validation/main/perplexity"):
        self.rate, self.key, self.best = rate, key, float("inf")

    def __call__(self, trainer):
        value = trainer.observation.get(self.key)
        if value is None:
            return
        value = float(value)
        if value < self.best:
            self.best = value
        else:
            optimizer = trainer.updater.get_optimizer("main")
            optimizer.alpha *= self.rate

    def serialize(self, serializer):
        self.best = serializer("best", self.best)


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


def build_language_model(config, n_vocab):
    return LanguageModel(n_vocab, embed_dim=config["embed_dim"], hidden_dim=config["hidden_dim"],
                         dropout=config["dropout"], softmax=config["softmax"], cutoffs=tuple(config["cutoffs"]),
                         div_value=config["div_value"], init_scale=config["init_scale"],
                         forget_bias=config["forget_bias"])


def train_language_model(config, extra_extensions=()):
    """Pretrain the LM described by ``config``; writes ``lm.npz`` (best dev perplexity) and ``results.json``.

    ``extra_extensions``: ``(extension, trigger)`` pairs added to the trainer.
    """
    out = config["out"]
    device, data, snapshot = open_run(config, "pretrain")

    train = training_tokens(data, config.get("max_train_tokens"), config["seed"])
    dev = dev_tokens(data, config.get("eval_tokens"), config["seed"])
    check_sizes(config, len(data.vocab), len(train), len(dev))
    record_run(config, "pretrain", data)
    model = build_language_model(config, len(data.vocab))
    model.to_device(device)
    optimizer = chainer.optimizers.Adam(alpha=config["lr"])
    optimizer.setup(model)
    optimizer.add_hook(FiniteGradientCheck())
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))

    iterator = StreamIterator(train, config["batchsize"], config["bptt_len"])
    updater = TBPTTUpdater(iterator, optimizer, device)
    total = config.get("max_iterations") or config["epoch"] * iterator.batches_per_epoch
    trainer = training.Trainer(updater, (total, "iteration"), out=out)
    eval_trigger = EveryNAndAtEnd(config.get("eval_interval") or iterator.batches_per_epoch, total)
    trainer.extend(PerplexityEvaluator(model, dev, config["eval_batchsize"], config["eval_bptt_len"], device),
                   trigger=eval_trigger)
    trainer.extend(AlphaDecayOnPlateau(config["alpha_decay"]), trigger=eval_trigger)
    meta = {"vocab_hash": data.vocab.hash, "config": config}
    trainer.extend(lambda t: save_model_with_meta(os.path.join(out, "lm.npz"), model, meta),
                   trigger=min_value_trigger("validation/main/perplexity", eval_trigger), name="save_best_lm")
    add_standard_extensions(trainer, config, ["epoch", "iteration", "main/perplexity", "validation/main/perplexity",
                                              "main/tokens_per_sec", "alpha", "elapsed_time"], eval_trigger)
    wall = run_trainer(trainer, snapshot, extra_extensions)
    if not os.path.exists(os.path.join(out, "lm.npz")):
        save_model_with_meta(os.path.join(out, "lm.npz"), model, meta)
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
