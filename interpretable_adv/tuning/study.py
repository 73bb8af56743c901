"""One hyperparameter study (``iadv tune``): its storage, its budget, its workers, the objective of a trial.

A study is Optuna's: a sampler (``grid`` over listed values, or ``tpe``),
a pruner (``median``: a trial whose dev accuracy after an epoch is below the
median of earlier trials at that epoch stops; ``none``), and a storage URL
(``sqlite:///RUNS/tune/NAME.db`` by default; a PostgreSQL or MySQL URL lets
workers on several machines share one study). **Each trial is an ordinary
``iadv train`` run** in ``STUDY_DIR/trial-NNNN`` (``args.json``, snapshots,
``results.json``, its log in ``train.log``): it can be evaluated, resumed or
compared like any run. The objective is the run's best **dev** accuracy;
test accuracy is computed once at the end of each run, as by every
``iadv train``, and never read by the study (the sampler, the pruner, the
best trial and the report's ranking see dev only).

Robustness. Every worker sends a heartbeat while it trains; a trial whose
worker died (``kill -9``, a lost machine) is marked failed by the next
worker that starts a trial after the grace period, or at once by a worker on
the same machine that sees the worker's process gone, and a new trial with
the same values is queued (at most :data:`MAX_RETRIES` times); it trains in
the failed trial's directory, so it **resumes from the last snapshot**. An
interrupted worker (Ctrl-C, SIGTERM, the end of its ``iadv tune``) queues
its trial again itself (:func:`requeue_interrupted`). A trial that raises (a
diverged run) is failed and counts as tried.

Budget. ``--trials N`` is the study's size, not a count per command:
rerunning the same command continues the study until N trials are finished,
running or queued (a retried trial counts once), and a finished study runs
nothing. Workers on one machine take a lock around "count, then start a
trial", so two of them never start the N+1-th trial; workers on different
machines could, in a window of milliseconds at the very end (with the grid
sampler the extra trial would repeat a grid point; the trial table shows it).
"""

import contextlib
import dataclasses
import os
import socket
import time

from interpretable_adv.errors import TrainingDiverged, UsageError
from interpretable_adv.tuning import space as search_space

SAMPLERS = ("grid", "tpe")
PRUNERS = ("median", "none")
MAX_RETRIES = 2
STORAGE_ATTEMPTS = 5
HEARTBEAT_INTERVAL_S = 20
GRACE_PERIOD_S = 60
TRIAL_DIR = "trial-%04d"
TRIAL_LOG = "train.log"


@dataclasses.dataclass(frozen=True)
class StudySettings:
    """Everything a worker needs to run trials of one study (picklable: workers are separate processes).

    ``fixed``: the ``iadv train`` keys set by flags (None: unset);
    ``parameters``: the searched :class:`~interpretable_adv.tuning.space.Parameter` s;
    ``trials``: the study's size N.
    """

    name: str
    storage: str
    directory: str
    preset: str
    fixed: tuple
    parameters: tuple
    sampler: str = "tpe"
    pruner: str = "median"
    trials: int = 20
    test: bool = False
    sampler_seed: int = 0

    def definition(self):
        """What makes two commands the same study (recorded in it; a rerun must match): not where the data or the
        runs are, nor the device (a second machine may differ)."""
        from interpretable_adv.presets.schema import NON_EXPERIMENT_KEYS

        fixed = {k: v for k, v in self.fixed if v is not None and k not in NON_EXPERIMENT_KEYS}
        return {"preset": self.preset, "fixed": fixed,
                "space": [p.spec() for p in self.parameters], "sampler": self.sampler, "pruner": self.pruner,
                "sampler_seed": self.sampler_seed, "test": self.test}


def default_storage(directory):
    """``sqlite:///`` URL of ``DIR.db`` beside the study directory ``DIR`` (absolute: workers may chdir)."""
    return "sqlite:///" + os.path.abspath(directory.rstrip("/\\") + ".db")


def sqlite_path(url):
    """The file of a ``sqlite:///`` URL, or None for another engine."""
    prefix = "sqlite:///"
    return url[len(prefix):] if url.startswith(prefix) else None


def open_storage(url):
    """Optuna's RDB storage of ``url`` with heartbeats and the retry of trials whose worker died."""
    import optuna

    engine = {}
    path = sqlite_path(url)
    if path is not None:
        if path and path != ":memory:":
            directory = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise UsageError("--storage %s: cannot create %s (%s)" % (url, directory, exc.strerror)) from None
        engine = {"connect_args": {"timeout": 120}}   # several local workers write to one file: wait for its lock
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)   # heartbeats: stable for years
    import sqlalchemy.exc

    try:
        for attempt in range(STORAGE_ATTEMPTS):
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_INTERVAL_S,
                                                  grace_period=GRACE_PERIOD_S,
                                                  heartbeat_stale_trial_callback=retry_trial)
            except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.IntegrityError):
                # Two commands creating a new storage's tables at once: one finds them half made ("table ... already
                # exists"); the next attempt sees them complete. Anything else fails again and is reported below.
                if attempt == STORAGE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
    except ImportError as exc:   # e.g. postgresql:// without its driver
        raise UsageError("--storage %s: %s (install the database's Python driver, e.g. psycopg[binary] for "
                         "PostgreSQL)" % (url, exc)) from None
    except Exception as exc:   # SQLAlchemy: an unreachable server, a bad URL
        raise UsageError("--storage %s: cannot open the study storage (%s)" % (url, " ".join(str(exc).split())[:300])) \
            from None


def retry_trial(study, failed):
    """Queue a dead worker's trial again with its values (Optuna's retry), without that worker's host and pid."""
    import copy

    import optuna

    failed = copy.deepcopy(failed)
    for name in ("host", "pid", "wall_time_s"):
        failed.user_attrs.pop(name, None)
    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(study, failed)


def make_sampler(settings):
    import optuna

    if settings.sampler == "grid":
        return optuna.samplers.GridSampler(search_space.grid(settings.parameters), seed=settings.sampler_seed)
    return optuna.samplers.TPESampler(seed=settings.sampler_seed)


def make_pruner(settings):
    import optuna

    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    # Prune from the first epoch on, once two trials have finished: runs last a few epochs at most.
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


DEFINITION_DEFAULTS = {"sampler_seed": 0}


def open_study(settings, storage=None):
    """The study of ``settings`` (created on first use); UsageError if it exists with another definition."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)   # our own lines report the trials, their logs the errors
    storage = storage or open_storage(settings.storage)
    study = optuna.create_study(storage=storage, study_name=settings.name, direction="maximize",
                                sampler=make_sampler(settings), pruner=make_pruner(settings), load_if_exists=True)
    definition = settings.definition()
    saved = study.user_attrs.get("definition")
    if saved is None:
        study.set_user_attr("definition", definition)
        saved = definition
    saved = dict(DEFINITION_DEFAULTS, **saved)   # a study recorded before a part was added had that part's default
    if saved != definition:
        changed = sorted(k for k in definition if definition[k] != saved.get(k))
        raise UsageError("study %s in %s was defined otherwise (%s: %s, now %s); rerun it with its own flags, or "
                         "name a new study with --study" % (settings.name, settings.storage, changed[0],
                                                            saved.get(changed[0]), definition[changed[0]]))
    return study


def _retried(trials):
    """The numbers of the failed trials that were queued again (each retry names the attempt it repeats)."""
    return {t.system_attrs.get("retry_history", [None])[-1] for t in trials if "failed_trial" in t.system_attrs}


def counted_trials(study):
    """The trials that use up the budget: all but the failed trials that were queued again."""
    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)
    return [t for t in trials if t.number not in retried]


def budget_left(study, size):
    return size - len(counted_trials(study))


def is_finished(study, size):
    """Whether every trial of the study's budget has ended (none running or queued)."""
    import optuna

    counted = counted_trials(study)
    waiting = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
    return len(counted) >= size and not any(t.state in waiting for t in counted)


def trial_directory(settings, trial):
    """``STUDY_DIR/trial-NNNN`` of a running trial; a retried trial trains in its first attempt's directory."""
    attrs = trial.study._storage.get_trial_system_attrs(trial._trial_id)
    return os.path.join(settings.directory, TRIAL_DIR % attrs.get("failed_trial", trial.number))


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_local_trials(study):
    """Fail (and queue again) the running trials of this machine whose worker process is gone; returns their numbers.

    Heartbeats do this too, but only after the grace period; a worker on the
    same machine can tell at once.
    """
    import optuna

    host, failed = socket.gethostname(), []
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") != host or not attrs.get("pid") or process_alive(attrs["pid"]):
            continue
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL):
                storage.get_heartbeat_stale_trial_callback()(study, storage.get_trial(trial._trial_id))
                failed.append(trial.number)
    return failed


class BudgetLock:
    """An exclusive lock of this machine's workers of a study, held while one counts the trials and starts one.

    The objective releases it as soon as its trial exists (:meth:`release` is
    idempotent), so trials run in parallel while their starts do not.
    """

    def __init__(self, directory):
        self.path = os.path.join(directory, ".tune-budget.lock")
        self._handle = None

    def acquire(self):
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._handle = open(self.path, "a")
        fcntl.flock(self._handle, fcntl.LOCK_EX)
        return self

    def release(self):
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()   # closing the file drops the flock


def trial_config(settings, values, out, device=None):
    """The ``iadv train`` configuration of a trial: preset, fixed flags, the trial's values, ``out``."""
    from interpretable_adv.presets import resolve_run

    overrides = dict(settings.fixed)
    overrides.update(values)
    overrides.update(out=out, progress=False)
    if device is not None:
        overrides["device"] = device
    return resolve_run(settings.preset, "train", overrides, settings.test)


def objective_of(settings, release, current, device=None):
    """The objective: train the trial's run (resuming it if a killed worker left snapshots); best dev accuracy.

    ``current``: a list the objective appends each trial's number to (the
    worker's record of the trial it runs, for :func:`requeue_interrupted`).
    """
    import optuna

    from interpretable_adv.runs import finished_run_problem, newest_readable_snapshot
    from interpretable_adv.training.classifier import train_classifier
    from interpretable_adv.training.extensions import DevAccuracyPruning

    def objective(trial):
        current.append(trial.number)
        trial.set_user_attr("host", socket.gethostname())   # before other workers look for dead ones
        trial.set_user_attr("pid", os.getpid())
        release()   # the trial exists: other workers may count and start theirs
        values = search_space.suggest(trial, settings.parameters)
        out = trial_directory(settings, trial)
        trial.set_user_attr("run_dir", os.path.relpath(out, settings.directory))
        config = trial_config(settings, values, out, device)
        start = time.time()
        if finished_run_problem(config, "train") is None:   # finished before its worker died: read, not retrain
            from interpretable_adv.files import read_json
            results = read_json(os.path.join(out, "results.json"), "run results")
        else:
            os.makedirs(out, exist_ok=True)
            snapshot = newest_readable_snapshot(out)
            trial.set_user_attr("resumed_from", snapshot and os.path.basename(snapshot))
            with _output_to(os.path.join(out, TRIAL_LOG)):
                print("[trial %d] %s, %s" % (trial.number, ", ".join("%s=%s" % kv for kv in values.items()),
                                             "resuming from %s" % os.path.basename(snapshot) if snapshot
                                             else "from the start"), flush=True)
                try:
                    results = train_classifier(config, [(DevAccuracyPruning(trial), (1, "epoch"))])
                except TrainingDiverged as exc:   # a failed trial, told in the trial table and the worker's line
                    trial.set_user_attr("error", " ".join(str(exc).split())[:300])
                    print("[trial %d] failed: %s" % (trial.number, exc), flush=True)
                    raise
                except optuna.TrialPruned as exc:
                    trial.set_user_attr("wall_time_s", round(time.time() - start, 1))
                    print("[trial %d] pruned: %s" % (trial.number, exc), flush=True)
                    raise
        trial.set_user_attr("wall_time_s", round(time.time() - start, 1))
        if results.get("dev_accuracy_best") is None:
            raise TrainingDiverged("%s: no dev evaluation (the run ended before its first epoch)" % out)
        return float(results["dev_accuracy_best"])

    return objective


@contextlib.contextmanager
def _output_to(path):
    """This process's stdout and stderr (file descriptors 1 and 2, so Chainer's reports too) appended to ``path``."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def run_worker(settings, device=None):
    """Run trials of the study until its budget is used up (one process; several may share a storage)."""
    import optuna

    study = open_study(settings)
    lock = BudgetLock(settings.directory)
    while True:
        lock.acquire()
        current = []
        try:
            fail_dead_local_trials(study)
            if budget_left(study, settings.trials) <= 0 and not study.get_trials(
                    deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
                return
            study.optimize(objective_of(settings, lock.release, current, device), n_trials=1,
                           catch=(TrainingDiverged,), gc_after_trial=True)
        except KeyboardInterrupt:   # Ctrl-C, SIGTERM, the end of `iadv tune`: the trial is queued again
            requeue_interrupted(study, current)
            raise
        finally:
            lock.release()


def requeue_interrupted(study, current):
    """Queue again the trial an interrupt stopped (``current``: the number it had), once Optuna has failed it.

    Wherever the interrupt landed: a trial Optuna failed is queued again
    here; one it left running has this process's pid, which the next worker
    on this machine finds dead (:func:`fail_dead_local_trials`); one it
    completed needs nothing.
    """
    import optuna

    if not current:
        return
    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)
    for trial in trials:
        if trial.number == current[-1] and trial.state == optuna.trial.TrialState.FAIL and trial.number not in retried:
            retry_trial(study, trial)
