"""Trainer extensions, triggers and the optimizer hook the trainers share.

Dev measurements (:class:`AccuracyEvaluator`, :class:`PerplexityEvaluator`),
learning-rate schedules (:class:`AlphaSchedule` for the classifiers,
:class:`AlphaDecayOnPlateau` for the LM, Appendix B), the neighbour refresh of
iAdvT/SPGD (:class:`NeighborRefresh`, every 50 iterations in the paper), the
triggers (:class:`EveryNAndAtEnd`, pickle-free best-value triggers), the NaN/inf
guard (:class:`FiniteGradientCheck`) and the standard logging/snapshot set
(:func:`add_standard_extensions`).
"""

import math

import chainer
from chainer import training
from chainer.training import extensions, triggers

from interpretable_adv.errors import TrainingDiverged
from interpretable_adv.training.metrics import classifier_metrics, stream_perplexity


class AccuracyEvaluator(training.Extension):
    """Dev evaluation for the trainer: reports ``validation/main/{accuracy,loss,majority_share}``.

    Replaces Chainer's ``Evaluator``, whose accuracy is the mean of per-batch
    means; this one counts examples (see :func:`~interpretable_adv.training.metrics.classifier_metrics`).
    In a data-parallel run (``dist``) each rank counts its shard of the dev
    set and the counts are summed over the ranks: the same figures as one
    process on the whole set.
    """

    trigger = 1, "epoch"
    priority = training.PRIORITY_WRITER

    def __init__(self, model_loss, dataset, batch_size, device, dist=None):
        self.model_loss, self.dataset = model_loss, dataset
        self.batch_size, self.device, self.dist = batch_size, device, dist

    def __call__(self, trainer):
        result = classifier_metrics(self.model_loss, self.dataset, self.batch_size, self.device)
        if self.dist is not None and self.dist.active:
            n = result["examples"]
            counts = self.dist.sum([result["correct"], result["loss"] * n, n] + result["predicted_counts"])
            correct, loss, n = counts[:3]
            result = {"accuracy": correct / n, "loss": loss / n, "majority_share": max(counts[3:]) / n}
        chainer.report({"validation/main/" + key: result[key] for key in ("accuracy", "loss", "majority_share")})


class AlphaSchedule(training.Extension):
    """Adam's alpha before update ``t + 1``: ``lr * decay**t * min(1, (t + 1) / warmup)``.

    ``decay`` is the paper's per-update factor (Appendix B / upstream: 0.9998);
    with ``warmup = 0`` this is exactly Chainer's ``ExponentialShift`` (same
    formula, same floats). ``warmup > 0`` ramps alpha up linearly over the
    first ``warmup`` updates (not in the paper; an option of the reduced
    presets, see docs/results.md). Stateless: the value follows from the iteration,
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


class PerplexityEvaluator(training.Extension):
    """Reports ``validation/main/perplexity`` and ``validation/main/loss`` on dev (``labels``: conditional LM)."""

    trigger = 1, "epoch"
    priority = training.PRIORITY_WRITER

    def __init__(self, model, tokens, batch_size, bptt_len, device, labels=None):
        self.model, self.tokens, self.labels = model, tokens, labels
        self.batch_size, self.bptt_len, self.device = batch_size, bptt_len, device

    def __call__(self, trainer):
        ppl, mean, _ = stream_perplexity(self.model, self.tokens, self.batch_size, self.bptt_len, self.device,
                                         self.labels)
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


class NeighborRefresh(training.Extension):
    """Refresh the table from the model's current embedding matrix at the start and on its trigger."""

    priority = training.PRIORITY_WRITER

    def __init__(self, table, embed_link, device):
        self.table, self.embed_link, self.device = table, embed_link, device

    def initialize(self, trainer):
        if self.table.refreshes == 0:
            self(trainer)

    def __call__(self, trainer):
        self.table.refresh(self.embed_link.W.array)
        chainer.report({"neighbor_refreshes": self.table.refreshes})

    def serialize(self, serializer):
        self.table.serialize(serializer)
        self.table.to_device(self.device)


class DevAccuracyPruning(training.Extension):
    """Report each epoch's dev accuracy to an Optuna trial and stop the run when its pruner says so (``iadv tune``).

    Runs after :class:`AccuracyEvaluator` (a reader of its observation);
    raises ``optuna.TrialPruned``, which ends ``trainer.run`` and marks the
    trial pruned (the run directory stays resumable, with no
    ``results.json``). Optuna's own Chainer extension left optuna-integration
    in its version 5, with Chainer's other integrations.
    """

    trigger = 1, "epoch"
    priority = training.PRIORITY_READER
    key = "validation/main/accuracy"

    def __init__(self, trial):
        self.trial = trial

    def __call__(self, trainer):
        import optuna

        value = trainer.observation.get(self.key)
        if value is None:
            return
        value = float(chainer.as_array(value)) if isinstance(value, chainer.Variable) else float(value)
        epoch = trainer.updater.epoch
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned("dev accuracy %.4f after epoch %d is below the pruner's bar" % (value, epoch))


def max_value_trigger(key, trigger):
    """Chainer's ``MaxValueTrigger`` whose state has no ``None`` (so snapshots hold no object array)."""
    return _pickle_free(triggers.MaxValueTrigger(key, trigger))


def min_value_trigger(key, trigger):
    """Chainer's ``MinValueTrigger`` whose state has no ``None`` (so snapshots hold no object array)."""
    return _pickle_free(triggers.MinValueTrigger(key, trigger))


def _pickle_free(best_value_trigger):
    """Store "no best value yet" as NaN: NumPy would save ``None`` as a pickled object array."""
    def serialize(serializer):
        best_value_trigger._interval_trigger.serialize(serializer["interval_trigger"])
        best_value_trigger._summary.serialize(serializer["summary"])
        best = best_value_trigger._best_value
        stored = serializer("best_value", math.nan if best is None else float(best))
        best_value_trigger._best_value = None if stored is None or math.isnan(stored) else float(stored)

    best_value_trigger.serialize = serialize
    return best_value_trigger


class FiniteGradientCheck:
    """Optimizer hook (before the update): stop on a NaN or infinite gradient, naming the iteration.

    Raised before the update rule runs, so the parameters stay as they were
    and the newest snapshot remains the last good state.
    """

    name = "FiniteGradientCheck"
    timing = "pre"
    call_for_each_param = False

    def __call__(self, optimizer):
        grads = [p.grad.ravel() for p in optimizer.target.params() if p.grad is not None]
        if not grads:
            return
        xp = chainer.backend.get_array_module(grads[0])
        total = sum(xp.vdot(g, g).astype(xp.float64) for g in grads)   # summed on the device: one host wait
        if not math.isfinite(float(total)):
            raise TrainingDiverged("iteration %d: the loss or its gradient is NaN or infinite; stopped before "
                                   "the update (the newest snapshot is the last good state; try a lower --lr "
                                   "or --grad-clip)" % (optimizer.t + 1))


def add_standard_extensions(trainer, config, print_keys, log_trigger):
    """LogReport and PrintReport (one line per evaluation), ProgressBar, Adam's alpha, snapshots.

    A snapshot is written every ``snapshot_interval`` iterations and at the
    end of every epoch with autoload: rerunning the same command in the same
    ``--out`` resumes from the newest one.
    """
    trainer.extend(extensions.observe_value("alpha", lambda t: t.updater.get_optimizer("main").alpha),
                   trigger=log_trigger)
    trainer.extend(extensions.LogReport(trigger=log_trigger))
    trainer.extend(extensions.PrintReport(print_keys), trigger=log_trigger)
    if config.get("progress", True):
        trainer.extend(extensions.ProgressBar(update_interval=config["log_interval"]))
    # autoload is ours (record_run): pickle-free, and falls back past a truncated newest snapshot.
    snapshot = extensions.snapshot(filename="snapshot_iter_{.updater.iteration}", n_retains=2)
    trainer.extend(snapshot, trigger=(config["snapshot_interval"], "iteration"), name="snapshot_interval")
    trainer.extend(snapshot, trigger=(1, "epoch"), name="snapshot_epoch")
