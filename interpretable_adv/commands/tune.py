"""``iadv tune``: a hyperparameter study on dev accuracy (Optuna), each trial an ordinary ``iadv train`` run.

``iadv tune --study NAME --method M --space KEY=SPEC ... [--sampler grid|tpe]
[--trials N] [--jobs J] [--storage URL]`` plus any ``iadv train`` flag (fixed
for every trial). Trials go to ``RUNS/tune/NAME/trial-NNNN`` and the study
to ``sqlite:///RUNS/tune/NAME.db``; rerunning the command continues the
study (:mod:`interpretable_adv.tuning.study`); ``--report`` rewrites the
trial table and Optuna's plots from the storage
(:mod:`interpretable_adv.reports.trials`).
"""

import os
import signal
import sys
import time

from interpretable_adv.commands import training_flags
from interpretable_adv.errors import UsageError
from interpretable_adv.keys import flag_type
from interpretable_adv.presets import resolve_run
from interpretable_adv.tuning import space as search_space
from interpretable_adv.tuning import study as studies

HELP = "hyperparameter study on dev accuracy (Optuna: grid or TPE, pruning, SQLite or a shared database)"
# `iadv train` flags a study sets itself (where each trial goes, its progress) or does not offer (data parallelism).
_NOT_FOR_TRIALS = ("out", "resume", "communicator", "check_done", "show_config", "progress")
POLL_S = 2.0
INTERRUPTED = 130   # a worker's exit status after SIGTERM or Ctrl-C (its trial was queued again)


def add_arguments(parser):
    parser.add_argument("--study", required=True, help="the study's name (its directory and default storage)")
    parser.add_argument("--space", action="append", default=[], metavar="KEY=SPEC",
                        help="a searched train key, repeatable: A,B,C (values; what --sampler grid needs), LOW:HIGH, "
                             "LOW:HIGH:log or LOW:HIGH:STEP (e.g. eps_scale=0.01,0.03,0.1 or lr=1e-4:1e-2:log)")
    parser.add_argument("--sampler", choices=studies.SAMPLERS, default="tpe",
                        help="grid: every combination of the listed values; tpe: Optuna's TPE")
    parser.add_argument("--pruner", choices=studies.PRUNERS, default=None,
                        help="median: stop a trial whose dev accuracy after an epoch is below the median of earlier "
                             "trials there (default for tpe); none: every trial runs in full (default for grid)")
    parser.add_argument("--trials", type=flag_type("int", low=1), default=None,
                        help="the study's size (default: the grid's size, or 20); a rerun continues up to it")
    parser.add_argument("--jobs", "-j", type=flag_type("int", low=1), default=1,
                        help="local workers sharing the storage (on a CPU each gets cores/J BLAS threads; on GPUs "
                             "one GPU each from --device on)")
    parser.add_argument("--storage", default=None,
                        help="Optuna storage URL (default: sqlite:///RUNS/tune/NAME.db; postgresql://... for workers "
                             "on several machines)")
    parser.add_argument("--runs", default=None, help="run set holding tune/ (default: runs/PRESET)")
    parser.add_argument("--out", "-o", default=None, help="study directory (default: RUNS/tune/NAME)")
    parser.add_argument("--sampler-seed", type=flag_type("int", low=0, high=2 ** 32 - 1), default=0,
                        help="seed of the sampler (TPE's draws, the grid's order beyond its first pass)")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite trials.md, trials.json and the plots from the storage (runs no trial; "
                             "--study and where it is, --runs/-o/--storage, suffice)")
    training_flags.add_arguments(parser, "train", exclude=_NOT_FOR_TRIALS)


def settings_of(args):
    """The study's :class:`~interpretable_adv.tuning.study.StudySettings` from the flags, every check done."""
    fixed = {k: v for k, v in training_flags.config_overrides(args, "train").items() if k not in _NOT_FOR_TRIALS}
    base = resolve_run(args.preset, "train", dict(fixed, out="-"), args.test)
    methods = [base["method"]]
    texts = list(args.space)
    method_space = [t for t in texts if t.split("=", 1)[0].strip().lstrip("-") == "method"]
    if method_space:
        methods = list(search_space.parse_parameter(method_space[0]).values)
    parameters = search_space.parse_space(texts, {k for k, v in fixed.items() if v is not None}, methods)
    size = None
    if args.sampler == "grid":
        search_space.grid(parameters)
        size = search_space.grid_size(parameters)
        if args.trials is not None and args.trials > size:
            raise UsageError("--trials %d: the grid has %d points; a grid study runs each once" % (args.trials, size))
    name, directory, storage = location(args)
    pruner = args.pruner or ("none" if args.sampler == "grid" else "median")
    return studies.StudySettings(
        name=name, storage=storage, directory=directory, preset=args.preset, fixed=tuple(sorted(fixed.items())), parameters=tuple(parameters), sampler=args.sampler,
        pruner=pruner, trials=args.trials or size or 20, test=bool(args.test), sampler_seed=args.sampler_seed)


def location(args):
    """``(name, directory, storage URL)`` of the study the flags name."""
    name = args.study + ("-test" if args.test else "")
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UsageError("--study %s: use letters, digits, '-', '_' and '.' (it names a directory)" % args.study)
    runs = args.runs or os.path.join("runs", os.path.splitext(os.path.basename(args.preset))[0])
    directory = os.path.abspath(args.out or os.path.join(runs, "tune", name))
    return name, directory, args.storage or studies.default_storage(directory)


def check_trials(settings):
    """Check the trials' settings against the data before any trial runs (a bad flag or space fails here).

    Every listed value and both ends of every range are checked with the
    dataset (e.g. K below the vocabulary size); the first trial's trainer is
    built (its inputs read: ``--pretrained``, ``--lm-term``), writing nothing.
    """
    from interpretable_adv.runs import get_device, open_run
    from interpretable_adv.training.classifier import build_classifier_trainer, check_with_data

    first = {p.name: p.values[0] if p.categorical else p.low for p in settings.parameters}
    out = os.path.join(settings.directory, "trial-check")
    config = studies.trial_config(settings, first, out)
    _, data, _ = open_run(config, "train")
    for p in settings.parameters:
        for value in p.values if p.categorical else (p.low, p.high):
            check_with_data(studies.trial_config(settings, dict(first, **{p.name: value}), out), data)
    build_classifier_trainer(config, data, get_device(config["device"]))


def run(args):
    if args.report:   # the study's own definition says what it searched: --study (and where it is) suffice
        name, directory, storage = location(args)
        study = _existing_study(name, storage)
        names = [spec.split("=", 1)[0] for spec in (study.user_attrs.get("definition") or {}).get("space", [])]
        return _report(study, directory, names)
    settings = settings_of(args)
    names = [p.name for p in settings.parameters]
    check_trials(settings)
    study = studies.open_study(settings)
    for number in studies.fail_dead_local_trials(study):
        print("[retry] trial %d: its worker is gone; queued again (it resumes from its snapshots)" % number)
    if studies.is_finished(study, settings.trials):
        print("[done] study %s: all %d trials have ended; nothing to run" % (settings.name, settings.trials))
        return _report(study, settings.directory, names)
    print("[study] %s: %s sampler, %s pruner, %d trials, %d worker(s); storage %s; trials in %s"
          % (settings.name, settings.sampler, settings.pruner, settings.trials, args.jobs, settings.storage,
             settings.directory))
    status = _run_workers(settings, study, args.jobs, names)
    _report(study, settings.directory, names)
    return status


def _existing_study(name, storage):
    import optuna

    path = studies.sqlite_path(storage)
    if path is not None and not os.path.isfile(path):
        raise UsageError("--report: no study storage %s (run the study first, without --report)" % path)
    try:
        return optuna.load_study(study_name=name, storage=studies.open_storage(storage))
    except KeyError:
        raise UsageError("--report: no study %s in %s (run it first, without --report)" % (name, storage)) from None


def _report(study, directory, names):
    from interpretable_adv.reports.trials import write_study_report

    write_study_report(study, directory, names)
    print(open(os.path.join(directory, "trials.md")).read())
    print("study report: %s" % os.path.join(directory, "trials.md"))
    return 0


def worker_devices(device, jobs):
    """The device of each of ``jobs`` workers: the CPU for all, or one GPU each counting up from ``device``."""
    from interpretable_adv.keys import normalise_device

    spec = normalise_device(device if device is not None else "@numpy", check_available=jobs > 1)
    if not spec.startswith("@cupy:") or jobs == 1:
        return [None] * jobs   # the trial's own --device (or the preset's)
    import cupy

    first, count = int(spec.split(":")[1]), cupy.cuda.runtime.getDeviceCount()
    return ["@cupy:%d" % ((first + i) % count) for i in range(jobs)]


def _worker_main(settings, device, parent):
    """A worker process: BLAS threads were set by the parent's environment; a usage error ends it in one line.

    SIGTERM, and on Linux the death of the ``iadv tune`` process (even by
    ``kill -9``), interrupt it like Ctrl-C: its running trial is queued again.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _terminate_with_parent(parent)
        studies.run_worker(settings, device)
    except UsageError as exc:
        print("iadv tune: error: %s" % " ".join(str(exc).split()), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)


def _interrupt(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)   # once: the cleanup after it must not be interrupted again
    raise KeyboardInterrupt


def _terminate_with_parent(parent):
    """Ask Linux for SIGTERM when the parent process ends (prctl PR_SET_PDEATHSIG); elsewhere nothing."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:   # it ended before the request took effect
        raise KeyboardInterrupt


def _run_workers(settings, study, jobs, names):
    """Start ``jobs`` worker processes, report the trials as they start and end, replace killed workers."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")   # fresh interpreters: each reads its own BLAS thread count
    devices = worker_devices(dict(settings.fixed).get("device"), jobs)
    if devices[0] is None and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))

    def start(i):
        process = context.Process(target=_worker_main, args=(settings, devices[i], os.getpid()), daemon=False)
        process.start()
        return process

    workers = {i: start(i) for i in range(jobs)}
    replacements, errors, seen = studies.MAX_RETRIES * jobs, [], {}
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while workers:
            time.sleep(POLL_S)
            _print_changes(study, seen, names)
            for i, process in list(workers.items()):
                if process.is_alive():
                    continue
                del workers[i]
                if process.exitcode is not None and (process.exitcode < 0 or process.exitcode == INTERRUPTED):
                    for number in studies.fail_dead_local_trials(study):
                        print("[retry] trial %d: worker %d was killed; queued again" % (number, i))
                    if replacements > 0 and not studies.is_finished(study, settings.trials):
                        replacements -= 1
                        workers[i] = start(i)
                elif process.exitcode:
                    errors.append(process.exitcode)
        _print_changes(study, seen, names)
    except KeyboardInterrupt:
        for process in workers.values():
            if process.is_alive():
                process.terminate()
        for process in workers.values():
            process.join(60)
        print("[stop] interrupted: running trials are queued again; rerun the same command to continue", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if errors:
        print("iadv tune: error: %d worker(s) ended with an error (see above and the trials' train.log)"
              % len(errors), file=sys.stderr)
        return 2 if 2 in errors else 1
    return 0


def _print_changes(study, seen, names):
    """One line per trial that started or ended since the last look."""
    for trial in study.get_trials(deepcopy=False):
        state = trial.state.name.lower()
        if seen.get(trial.number) == state or (state == "running" and not trial.params):
            continue   # a running trial is shown once its values are drawn
        seen[trial.number] = state
        values = " ".join("%s=%s" % (k, trial.params[k]) for k in names if k in trial.params)
        if state == "running":
            print("[start] trial %d %s" % (trial.number, values))
        elif state == "waiting":
            print("[queue] trial %d %s" % (trial.number, values))
        else:
            dev = "" if trial.value is None else " dev %.2f" % (100 * trial.value)
            if state == "pruned" and trial.intermediate_values:
                epoch = max(trial.intermediate_values)
                dev = " after epoch %d: dev %.2f" % (epoch, 100 * trial.intermediate_values[epoch])
            wall = trial.user_attrs.get("wall_time_s")
            error = trial.user_attrs.get("error")
            print("[%s] trial %d %s%s%s%s" % (state, trial.number, values, dev, "" if wall is None else " (%.0f s)" % wall,
                                              ": " + error if error else ""))
