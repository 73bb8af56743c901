"""What every training command shares: devices, seeds, ``args.json``, standard extensions."""

import datetime
import json
import math
import os
import platform
import random
import re
import subprocess
import sys

import chainer
import numpy as np
from chainer.training import extensions, triggers

from interpretable_adv import __version__
from interpretable_adv.errors import TrainingDiverged, UsageError
from interpretable_adv.files import (
    atomic_path,
    atomic_write_json,
    check_npz,
    load_npz,
    open_npz,
    read_json,
    remove_stale_temporaries,
    warn,
)
from interpretable_adv.iterators import serialize_random_state
from interpretable_adv.presets.schema import NON_EXPERIMENT_KEYS, flag_of, normalise_device


def get_device(spec):
    """Chainer device from ``--device``: -1 or ``@numpy`` = CPU, N or ``@cupy:N`` = GPU N.

    An unusable specifier (no such GPU, CuPy missing) is a :class:`UsageError`.
    """
    try:
        spec = normalise_device(spec)
    except ValueError as exc:
        raise UsageError("--device %s" % exc) from None
    device = chainer.get_device(spec)
    device.use()
    return device


def set_seed(seed, device=None):
    """Seed Python, NumPy (initialisers and CPU dropout) and CuPy when on a GPU."""
    random.seed(seed)
    np.random.seed(seed)
    if device is not None and device.xp is not np:
        device.xp.random.seed(seed)


def git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def versions():
    found = {"python": platform.python_version(), "interpretable_adv": __version__,
             "chainer": chainer.__version__, "numpy": np.__version__}
    try:
        import cupy
        found["cupy"] = cupy.__version__
    except Exception:  # cupy absent or unusable: CPU only
        pass
    return found


def write_args_json(out, config, command, data_fingerprint=None):
    """``args.json``: resolved configuration, dataset fingerprint, seed, git commit, versions, command line."""
    os.makedirs(out, exist_ok=True)
    payload = {"command": command, "config": config, "seed": config.get("seed"),
               "data_fingerprint": data_fingerprint,
               "git_commit": git_commit(), "versions": versions(), "argv": sys.argv,
               "time": datetime.datetime.now().isoformat(timespec="seconds")}
    atomic_write_json(os.path.join(out, "args.json"), payload)
    return payload


def data_fingerprint(data):
    """What identifies a prepared dataset's content: ``iadv prepare``'s fingerprint, else the vocabulary hash."""
    return data.stats.get("fingerprint") or data.vocab.hash


SNAPSHOT_PATTERN = re.compile(r"^snapshot_iter_(\d+)$")


def snapshots_in(directory):
    """Trainer snapshots in ``directory``, newest (highest iteration) first."""
    if not os.path.isdir(directory):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(directory) for m in [SNAPSHOT_PATTERN.match(name)] if m]
    return [os.path.join(directory, name) for _, name in sorted(found, reverse=True)]


def check_resume(config, command, data):
    """Refuse (UsageError) to continue a run whose experiment settings differ from ``config``'s.

    A run is continued when ``--resume`` names a snapshot, or when ``--out``
    already holds snapshots; its ``args.json`` (beside the snapshot) is then
    compared with the new configuration. Keys in
    :data:`~interpretable_adv.presets.schema.NON_EXPERIMENT_KEYS` may differ;
    any other key, the command or the dataset's fingerprint may not. Nothing
    is written or removed here.
    """
    out = config["out"]
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError("--out %s: exists and is not a directory" % out)
    resume = config.get("resume")
    if resume:
        if not os.path.isfile(resume):
            raise UsageError("--resume %s: no such snapshot file" % resume)
        check_npz(resume, "--resume")   # readable, and no pickled object, before anything is written
        saved_path = os.path.join(os.path.dirname(os.path.abspath(resume)), "args.json")
    elif snapshots_in(out):
        saved_path = os.path.join(out, "args.json")
    else:
        return
    if not os.path.isfile(saved_path):
        return   # a snapshot without its args.json (copied by hand): nothing to compare with
    saved = read_json(saved_path, "the run's settings")
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise UsageError("%s: not an args.json written by iadv (no \"config\"); remove it or use another --out"
                         % saved_path)
    differences = []
    if saved.get("command", command) != command:
        differences.append("command (%s, saved %s)" % (command, saved.get("command")))
    old = saved["config"]
    for key in sorted(set(old) | set(config)):
        if key in NON_EXPERIMENT_KEYS:
            continue
        if _normalised(old.get(key)) != _normalised(config.get(key)):
            differences.append("%s %s (saved %s)" % (flag_of(key), _show(config.get(key)), _show(old.get(key))))
    saved_data = saved.get("data_fingerprint")
    if saved_data is not None and saved_data != data_fingerprint(data):
        differences.append("--data %s (another dataset than the saved run's %s)" % (config["data"], old.get("data")))
    if differences:
        raise UsageError("%s holds a run with other settings; resuming would mix two experiments. Differences: %s. "
                         "Use another --out, or remove the old run to start over"
                         % (os.path.dirname(saved_path) or ".", "; ".join(differences)))


def _normalised(value):
    return list(value) if isinstance(value, tuple) else value


def _show(value):
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


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
    # autoload is ours (open_run): pickle-free, and falls back past a truncated newest snapshot.
    snapshot = extensions.snapshot(filename="snapshot_iter_{.updater.iteration}", n_retains=2)
    trainer.extend(snapshot, trigger=(config["snapshot_interval"], "iteration"), name="snapshot_interval")
    trainer.extend(snapshot, trigger=(1, "epoch"), name="snapshot_epoch")


def serialize_run_state(serializer, optimizer):
    """What a trainer snapshot lacks for a bit-identical resume; call from ``Updater.serialize``.

    NumPy's global random state (Chainer's CPU dropout draws from it) and the
    optimizer's current learning rate (Adam's ``alpha``: Chainer stores the
    moments but not the hyperparameter, which the decay extensions change).
    """
    serialize_random_state(serializer["numpy_random"])
    hyperparam = optimizer.hyperparam
    hyperparam.alpha = serializer("optimizer_alpha", float(hyperparam.alpha))


def open_run(config, command):
    """Device, prepared data and the snapshot to resume from (or None), every check done, nothing written.

    Checks the device, the dataset, and (when ``--out`` holds a run to
    continue) that the run's saved settings match (:func:`check_resume`).
    The trainer then builds what depends on the data, checks that too, and
    calls :func:`record_run` before its first write.
    """
    from interpretable_adv.data import PreparedData

    device = get_device(config["device"])
    data = PreparedData(config["data"])
    check_resume(config, command, data)
    snapshot = config.get("resume") or newest_readable_snapshot(config["out"])
    set_seed(config["seed"], device)
    return device, data, snapshot


def record_run(config, command, data):
    """The run's first writes: remove temporaries a killed run left in ``--out``, write ``args.json``."""
    remove_stale_temporaries(config["out"], log=warn)
    write_args_json(config["out"], config, command, data_fingerprint(data))


def run_trainer(trainer, snapshot=None, extra_extensions=()):
    """Add ``(extension, trigger)`` extras, resume from ``snapshot`` (from :func:`open_run`), run.

    Returns the wall time in seconds.
    """
    import time

    for extension, trigger in extra_extensions:
        trainer.extend(extension, trigger=trigger)
    if snapshot:
        load_npz(snapshot, trainer, "snapshot")
    start = time.time()
    trainer.run(show_loop_exception_msg=False)   # our errors are one line; bugs keep their traceback
    return time.time() - start


def newest_readable_snapshot(out):
    """The newest readable ``snapshot_iter_N`` in ``out`` (what a rerun resumes from), or None.

    Every candidate is read in full (pickling off) before it is chosen. A
    truncated or corrupt newest snapshot is skipped with a warning in favour
    of the next older one; one holding a pickled object is refused outright
    (:class:`~interpretable_adv.errors.UnsafeFile`).
    """
    from interpretable_adv.errors import UnsafeFile

    skipped = []
    for path in snapshots_in(out):
        try:
            check_npz(path, "snapshot")
        except UnsafeFile:
            raise
        except UsageError as exc:
            skipped.append(path)
            warn("%s; trying an older snapshot" % exc)
            continue
        if skipped:
            warn("resuming from %s instead of the unreadable %s" % (path, ", ".join(skipped)))
        return path
    if skipped:
        warn("no readable snapshot in %s; starting from the beginning" % out)
    return None


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
        squares = [float((p.grad * p.grad).sum()) for p in optimizer.target.params() if p.grad is not None]
        if not math.isfinite(math.fsum(squares)):
            raise TrainingDiverged("iteration %d: the loss or its gradient is NaN or infinite; stopped before "
                                   "the update (the newest snapshot is the last good state; try a lower --lr "
                                   "or --grad-clip)" % (optimizer.t + 1))


def save_model_with_meta(path, model, meta):
    """``save_npz`` of ``model`` plus ``meta/<key>`` entries (vocabulary hash, config)."""
    serializer = chainer.serializers.DictionarySerializer()
    serializer.save(model)
    uninitialised = [k for k, v in serializer.target.items() if v is None]
    if uninitialised:   # NumPy would pickle None; every file we write must load with pickling off
        raise ValueError("cannot save %s: uninitialised entries %s" % (path, ", ".join(uninitialised)))
    target = {k: chainer.backends.cuda.to_cpu(v) for k, v in serializer.target.items()}
    for key, value in meta.items():
        target["meta/" + key] = np.asarray(json.dumps(value) if not isinstance(value, str) else value)
    with atomic_path(path) as tmp:
        np.savez(tmp, **target)


def read_meta(path, what=None):
    """The ``meta/`` entries of a file written by :func:`save_model_with_meta` (read without pickling)."""
    with open_npz(path, what) as z:
        return {k[len("meta/"):]: str(z[k]) for k in z.files if k.startswith("meta/")}
