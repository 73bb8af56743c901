"""Run directories: everything about a training run's directory on disk but its model files.

A training run (``iadv pretrain`` / ``iadv train``) is a directory holding
``args.json`` (resolved configuration, fingerprints of the dataset and the
input files, versions), Chainer's ``log``, snapshots ``snapshot_iter_N``,
``results.json`` and its model (``lm.npz`` or ``best_model.npz``, written and
read by :mod:`interpretable_adv.checkpoints`). This module parses
``--device``, checks and records a run before training (:func:`open_run`,
:func:`record_run`: nothing is written until every check passed, and only
under the directory's lock), resumes it (:func:`newest_readable_snapshot`,
:func:`run_trainer`), and finds finished runs and their dataset
(:func:`data_dir_of_runs`, :func:`run_sets`). Every file is
read with pickling off (:mod:`interpretable_adv.files`).
"""

import collections
import contextlib
import datetime
import functools
import hashlib
import os
import platform
import random
import re
import subprocess
import sys
import time

import chainer
import numpy as np

from interpretable_adv import __version__, methods
from interpretable_adv.checkpoints import run_config
from interpretable_adv.distributed import Distribution
from interpretable_adv.errors import UnsafeFile, UsageError
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
from interpretable_adv.keys import flag_of, normalise_device
from interpretable_adv.locking import OutputLock
from interpretable_adv.presets.schema import NON_EXPERIMENT_KEYS, with_defaults

# The run rows a reproduction trains, as run directory names (the registry's, :func:`methods.rows`); the order
# in which a run set is searched for its dataset.
RUN_NAMES = tuple(row.name for row in methods.rows())
# The one seed's runs that `iadv evaluate` and `interpret` read by default: where `make reproduce-small` writes seed 0.
DEFAULT_RUNS = os.path.join("runs", "small", "seed0")


# ----------------------------------------------------------------------------- devices

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


# ----------------------------------------------------------------------------- a training run's life


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


def write_args_json(out, config, command, data_fingerprint=None, ranks=1, inputs=None):
    """``args.json``: resolved configuration, fingerprints of the dataset and of every input file
    (:func:`input_fingerprints`), ranks, seed, git commit, versions, command line."""
    os.makedirs(out, exist_ok=True)
    payload = {"command": command, "config": config, "seed": config.get("seed"),
               "data_fingerprint": data_fingerprint, "inputs": inputs or {}, "ranks": ranks,
               "git_commit": git_commit(), "versions": versions(), "argv": sys.argv,
               "time": datetime.datetime.now().isoformat(timespec="seconds")}
    atomic_write_json(os.path.join(out, "args.json"), payload)
    return payload


def data_fingerprint(data):
    """What identifies a prepared dataset's content: ``iadv prepare``'s fingerprint, else the vocabulary hash."""
    return data.stats.get("fingerprint") or data.vocab.hash


# Configuration keys that name a file the run reads (its model is built from it): fingerprinted in args.json,
# so that a resume refuses an input replaced since the run started.
INPUT_FILE_KEYS = ("pretrained", "init", "lm_term")


def file_fingerprint(path):
    """SHA-256 and size of a file's bytes (read once per version of the file: size, mtime and inode)."""
    info = os.stat(path)
    return dict(_fingerprint(os.path.abspath(path), info.st_size, info.st_mtime_ns, info.st_ino))


@functools.lru_cache(maxsize=32)
def _fingerprint(path, size, mtime_ns, inode):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return (("sha256", digest.hexdigest()), ("bytes", size))


def input_fingerprints(config):
    """``{key: {"path", "sha256", "bytes"}}`` of the input files of ``config`` (:data:`INPUT_FILE_KEYS`) that exist."""
    found = {}
    for key in INPUT_FILE_KEYS:
        path = config.get(key)
        if path and os.path.isfile(path):
            found[key] = dict(file_fingerprint(path), path=path)
    return found


def _changed_inputs(saved_inputs, config):
    """One description per input file whose content differs from the fingerprint saved with the run."""
    changed = []
    for key, saved in sorted((saved_inputs or {}).items()):
        path = config.get(key)
        if not isinstance(saved, dict) or not path or not os.path.isfile(path):
            continue   # a changed or missing path is reported as a setting, or by the loader
        now = file_fingerprint(path)
        if now["sha256"] != saved.get("sha256"):
            changed.append("%s %s (its content changed since the run started: sha256 %s, %d bytes; saved %s, %s "
                           "bytes)" % (flag_of(key), path, now["sha256"][:12], now["bytes"],
                                       str(saved.get("sha256"))[:12], saved.get("bytes")))
    return changed


SNAPSHOT_PATTERN = re.compile(r"^snapshot_iter_(\d+)$")


def snapshots_in(directory):
    """Trainer snapshots in ``directory``, newest (highest iteration) first."""
    if not os.path.isdir(directory):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(directory) for m in [SNAPSHOT_PATTERN.match(name)] if m]
    return [os.path.join(directory, name) for _, name in sorted(found, reverse=True)]


def check_resume(config, command, data, ranks=1, read_snapshot=True):
    """Refuse (UsageError) to continue a run whose experiment settings differ from ``config``'s.

    A run is continued when ``--resume`` names a snapshot, or when ``--out``
    already holds snapshots; its ``args.json`` (beside the snapshot) is then
    compared with the new configuration. Keys in
    :data:`~interpretable_adv.presets.schema.NON_EXPERIMENT_KEYS` may differ;
    any other key, the command, the dataset's fingerprint or the content of
    an input file (:data:`INPUT_FILE_KEYS`) may not. ``read_snapshot=False``
    skips reading ``--resume`` in full (done moments before). Nothing is
    written or removed here.
    """
    out = config["out"]
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError("--out %s: exists and is not a directory" % out)
    resume = config.get("resume")
    if resume:
        if not os.path.isfile(resume):
            raise UsageError("--resume %s: no such snapshot file" % resume)
        if read_snapshot:
            check_npz(resume, "--resume")   # readable, and no pickled object, before anything is written
        saved_path = os.path.join(os.path.dirname(os.path.abspath(resume)), "args.json")
    elif snapshots_in(out):
        saved_path = os.path.join(out, "args.json")
    else:
        return
    if not os.path.isfile(saved_path):
        return   # a snapshot without its args.json (copied by hand): nothing to compare with
    differences = settings_differences(saved_path, config, command, data, ranks)
    if differences:
        raise UsageError("%s holds a run with other settings; resuming would mix two experiments. Differences: %s. "
                         "Use another --out, or remove the old run to start over"
                         % (os.path.dirname(saved_path) or ".", "; ".join(differences)))


def settings_differences(saved_path, config, command, data, ranks=1):
    """How the run of ``saved_path`` (an ``args.json``) differs from ``config``: one phrase per difference.

    Compared: the command, every experiment key (not
    :data:`~interpretable_adv.presets.schema.NON_EXPERIMENT_KEYS`), the global
    batch, the dataset's fingerprint and the content of the input files.
    """
    saved = read_json(saved_path, "the run's settings")
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise UsageError("%s: not an args.json written by iadv (no \"config\"); remove it or use another --out"
                         % saved_path)
    differences = []
    if saved.get("command", command) != command:
        differences.append("command (%s, saved %s)" % (command, saved.get("command")))
    old = with_defaults(saved["config"], command)
    saved_ranks = int(saved.get("ranks", 1))
    if old.get("batchsize") is not None and saved_ranks * old["batchsize"] != ranks * config["batchsize"]:
        differences.append("global batch %d x --batchsize %d (saved %d x %d)"
                           % (ranks, config["batchsize"], saved_ranks, old["batchsize"]))
    for key in sorted(set(old) | set(config)):
        if key in NON_EXPERIMENT_KEYS or key == "batchsize":   # the batch: compared as a global batch above
            continue
        if key in INPUT_FILE_KEYS and _same_input(old.get(key), config.get(key), (saved.get("inputs") or {}).get(key)):
            continue
        if _normalised(old.get(key)) != _normalised(config.get(key)):
            differences.append("%s %s (saved %s)" % (flag_of(key), _show(config.get(key)), _show(old.get(key))))
    saved_data = saved.get("data_fingerprint")
    if saved_data is not None and saved_data != data_fingerprint(data):
        differences.append("--data %s (another dataset than the saved run's %s)" % (config["data"], old.get("data")))
    return differences + _changed_inputs(saved.get("inputs"), config)


def finished_run_problem(config, command):
    """Why ``--out`` does not hold a finished run of exactly ``config`` (None when it does); writes nothing.

    Finished: ``results.json`` written (atomically, as a run's last act) beside
    an ``args.json`` whose settings are ``config``'s (:func:`settings_differences`).
    The scripts' resumable stages accept a run only then, so a ``--test`` run
    or one of other settings is never taken for the stage's result.
    """
    from interpretable_adv.data import PreparedData

    out = config["out"]
    for name in ("args.json", "results.json"):
        if not os.path.isfile(os.path.join(out, name)):
            return "%s: no %s (%s)" % (out, name, "no run" if name == "args.json" else "not finished")
    differences = settings_differences(os.path.join(out, "args.json"), config, command,
                                       PreparedData(config["data"]))
    if differences:
        return "%s: a run of other settings (%s)" % (out, "; ".join(differences))
    return None


def _same_input(saved_path, path, saved_fingerprint):
    """One input file named two ways: the same file (relative or absolute path, a link), or the same bytes."""
    if not saved_path or not path:
        return saved_path == path
    if os.path.realpath(saved_path) == os.path.realpath(path):
        return True
    return (isinstance(saved_fingerprint, dict) and os.path.isfile(path)
            and file_fingerprint(path)["sha256"] == saved_fingerprint.get("sha256"))


def _normalised(value):
    return list(value) if isinstance(value, tuple) else value


def _show(value):
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def open_run(config, command, dist=None):
    """Device and prepared data of a run, every check done, nothing written.

    Checks the device, the dataset, and (when ``--out`` holds a run to
    continue) that the run's saved settings and inputs match
    (:func:`check_resume`). The trainer then builds what depends on the data,
    checks that too, and enters :func:`record_run` before its first write.
    """
    from interpretable_adv.data import PreparedData

    device_spec = config["device"]
    if dist is not None and dist.active and normalise_device(device_spec, check_available=False) != "@numpy":
        device_spec = "@cupy:%d" % dist.communicator.intra_rank     # one GPU per process on each node
    device = get_device(device_spec)
    data = PreparedData(config["data"])
    check_resume(config, command, data, dist.size if dist is not None else 1)
    resume = choose_snapshot(config)
    set_seed(config["seed"], device)
    return device, data, resume


ResumePoint = collections.namedtuple("ResumePoint", "snapshot seen")
ResumePoint.__doc__ = "The snapshot a run resumes from (or None) and the snapshots ``--out`` held when it was chosen."


def choose_snapshot(config):
    """``--resume``, else the newest readable snapshot in ``--out`` (:func:`newest_readable_snapshot`)."""
    seen = tuple(snapshots_in(config["out"]))
    return ResumePoint(config.get("resume") or newest_readable_snapshot(config["out"]), seen)


@contextlib.contextmanager
def record_run(config, command, data, dist=None, resume=None):
    """Hold ``--out``'s lock while the run writes; yields the snapshot to resume from (or None).

    On entry: the lock (:class:`~interpretable_adv.locking.OutputLock`; a
    second writer is refused in one line, before it writes anything), then,
    if another run wrote snapshots into ``--out`` since :func:`open_run`
    chose ``resume``, the resume check and the choice once more; then the
    run's first writes: remove temporaries a killed run left, write
    ``args.json`` with the fingerprints of the dataset and of the input
    files. In a data-parallel run rank 0 does all of this and shares the
    outcome (every rank resumes from the same snapshot, or every rank refuses).
    """
    ranks = dist.size if dist is not None else 1
    lock = OutputLock(config["out"])

    def claim():
        lock.acquire()
        try:
            point = resume
            if point is None or tuple(snapshots_in(config["out"])) != point.seen:
                check_resume(config, command, data, ranks, read_snapshot=False)
                point = choose_snapshot(config)
            snapshot = point.snapshot
            remove_stale_temporaries(config["out"], log=warn)
            write_args_json(config["out"], config, command, data_fingerprint(data), ranks, input_fingerprints(config))
        except BaseException:
            lock.release()
            raise
        return snapshot

    try:
        yield claim() if dist is None else dist.on_writer(claim)   # every rank: rank 0's snapshot
    finally:
        lock.release()


def train_run(config, command, build, results_of, extra_extensions=()):
    """The life of one training run, the same for ``pretrain`` and ``train``; returns ``results.json``'s content.

    Checks (:func:`open_run`), ``build(config, data, device, dist) -> (trainer,
    parts)`` (reads files and checks what needs the data; writes nothing),
    then under ``--out``'s lock (:func:`record_run`) the training, resumed
    from the chosen snapshot, and on rank 0 ``results_of(config, data, device,
    trainer, parts, dist, wall_seconds)`` written as ``results.json`` (None on
    the other ranks of a data-parallel run). ``extra_extensions``:
    ``(extension, trigger)`` pairs added to the trainer.
    """
    dist = Distribution.from_config(config)
    device, data, resume = open_run(config, command, dist)
    trainer, parts = build(config, data, device, dist)
    with record_run(config, command, data, dist, resume) as snapshot:
        wall = run_trainer(trainer, snapshot, extra_extensions)
        if not dist.is_writer:
            return None   # rank 0 writes the model and results.json
        results = results_of(config, data, device, trainer, parts, dist, wall)
        results.update(test=bool(config.get("test")), shortened=shortened_settings(config, command))
        atomic_write_json(os.path.join(config["out"], "results.json"), results)
    return results


# Keys that cut a run short of its preset: set lower than the preset's value (or set where the preset has none).
SHORTENING_KEYS = ("epoch", "max_iterations", "max_train_examples", "max_train_tokens")


def shortened_settings(config, command):
    """``{flag: value}`` of the settings that make this run shorter than its preset's (``--test``'s among them).

    Recorded in ``results.json`` so that a truncated run is never read as the
    preset's result: ``{}`` for a run of the preset's full length.
    """
    from interpretable_adv.presets import load_preset

    if not config.get("preset"):
        return {}   # a configuration built in code, not from a preset: nothing to compare with
    try:
        preset = load_preset(config["preset"], command)
    except UsageError:   # the preset file has gone since the run started: nothing to compare with
        return {}
    shortened = {}
    for key in SHORTENING_KEYS:
        value, full = config.get(key), preset.get(key)
        if value is not None and (full is None or value < full):
            shortened[flag_of(key)] = value
    return shortened


def run_trainer(trainer, snapshot=None, extra_extensions=()):
    """Add ``(extension, trigger)`` extras, resume from ``snapshot`` (from :func:`open_run`), run.

    Returns the wall time in seconds.
    """
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


# ----------------------------------------------------------------------------- finished runs


def data_dir_of_run(run_dir):
    """The prepared dataset a run used (its ``args.json``), or None when the directory holds no run."""
    if not os.path.isfile(os.path.join(run_dir, "args.json")):
        return None
    return run_config(run_dir).get("data")


def data_dir_of_runs(*runs_dirs):
    """The prepared dataset of the first Table 3 run found under ``runs_dirs`` (SPGD first), or None."""
    for runs_dir in runs_dirs:
        for name in reversed(RUN_NAMES):
            data = data_dir_of_run(os.path.join(runs_dir, name))
            if data is not None:
                return data
    return None


def seed_dirs(runs_dir):
    """``{seed: path}`` of the ``seedN`` subdirectories of ``runs_dir`` (the layout the scripts write)."""
    found = {}
    for name in os.listdir(runs_dir) if os.path.isdir(runs_dir) else ():
        match = re.fullmatch(r"seed(\d+)", name)
        if match and os.path.isdir(os.path.join(runs_dir, name)):
            found[int(match.group(1))] = os.path.join(runs_dir, name)
    return dict(sorted(found.items()))


def one_seed_runs(runs_dir):
    """``runs_dir`` if it holds the runs of one seed; a UsageError that names the seeds if it is a run set's root.

    The scripts write ``RUNS/lm/`` and ``RUNS/seedN/ROW/``: ``iadv evaluate``
    and ``interpret`` read one ``seedN`` folder, ``iadv summarize`` the root.
    """
    seeds = seed_dirs(runs_dir)
    if seeds and data_dir_of_runs(runs_dir) is None:
        first = next(iter(seeds.values()))
        raise UsageError("%s holds the runs of seeds %s (one folder each): pass one of them, e.g. --runs %s "
                         "(`iadv summarize --runs %s` reads them all)"
                         % (runs_dir, ", ".join(map(str, seeds)), first, runs_dir))
    return runs_dir


def lm_of_runs(runs_dir):
    """The LM a seed's runs were initialised from (their ``--pretrained``), else ``lm/lm.npz`` beside or above them.

    The scripts write the LM to ``RUNS/lm/lm.npz`` and the classifiers to
    ``RUNS/seedN/ROW/``, so for ``--runs RUNS/seedN`` the second guess is
    ``RUNS/lm/lm.npz``. Returns the first path that exists, else the
    recorded (or first) guess, for the error message of the caller.
    """
    guesses = [os.path.join(runs_dir, "lm", "lm.npz"),
               os.path.join(os.path.dirname(os.path.abspath(runs_dir)), "lm", "lm.npz")]
    for name in reversed(RUN_NAMES):   # the first run that records its LM (one args.json read per run at most)
        if os.path.isfile(os.path.join(runs_dir, name, "args.json")):
            pretrained = run_config(os.path.join(runs_dir, name)).get("pretrained")
            if pretrained:
                guesses.insert(0, pretrained)
                break
    return next((path for path in guesses if os.path.isfile(path)), guesses[0])


def check_output_dir(out):
    """An evaluation output may not be a file, nor a training run's directory (its results.json would go)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError("--out %s: exists and is not a directory" % out)
    if os.path.isfile(os.path.join(out, "args.json")):
        raise UsageError("--out %s: holds a training run (args.json); evaluation output would overwrite its "
                         "results.json. Choose another directory (default: RUNS/eval)" % out)


def run_sets(root="runs"):
    """Directories under ``root`` that hold Table 3 runs (``NAME/args.json`` with NAME in :data:`RUN_NAMES`)."""
    found = set()
    for base, dirs, files in os.walk(root):
        if os.path.basename(base) in RUN_NAMES and "args.json" in files:
            found.add(os.path.dirname(base))
            dirs[:] = []
    return sorted(found)


def describe_runs():
    """One sentence for error messages: which run sets exist under ``runs/`` (to pass as ``--runs``)."""
    root, limit = "runs", 8
    sets = run_sets(root)
    if not sets:
        return "there is no run set under %s/ yet (`make demo` makes runs/tiny/seed0..2)" % root
    shown = ", ".join(sets[:limit]) + (", ..." if len(sets) > limit else "")
    return "run sets under %s/: %s (pass one with --runs)" % (root, shown)


# ----------------------------------------------------------------------------- each test review's prediction

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
