"""``iadv tune``: Optuna studies of real tiny trainings (synthetic corpus), with real worker processes.

Two workers on one SQLite file and two commands on one study (no grid point
lost or run twice), a worker killed with SIGKILL mid-trial (the trial fails,
its retry resumes the run from its snapshot in the same directory), the
whole command killed and rerun, a trial pruned by the median rule, a
diverged trial, a finished study rerun (nothing runs), a study redefined (refused); the
schema's refusals of a space are in tests/test_bad_inputs.py.
"""

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from interpretable_adv.tuning import space as search_space

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tune_command(data, runs, study, *flags):
    return [sys.executable, "-m", "interpretable_adv.cli", "tune", "--preset", "tiny", "--data", data,
            "--runs", str(runs), "--study", study, "--epoch", "3"] + list(flags)


def run_tune(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(tune_command(*args), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def start_tune(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.Popen(tune_command(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO, env=env)


def load(runs, study):
    """The study, read without creating the storage's tables (a poller must not race the command creating them)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = "sqlite:///%s" % os.path.join(str(runs), "tune", study + ".db")
    return optuna.load_study(study_name=study, storage=optuna.storages.RDBStorage(url, skip_table_creation=True))


def states(study):
    return sorted(t.state.name for t in study.get_trials(deepcopy=False))


def complete_params(study):
    return sorted(tuple(sorted(t.params.items())) for t in study.get_trials(deepcopy=False)
                  if t.state.name == "COMPLETE")


def grid_points(**values):
    names = sorted(values)
    return sorted(tuple(zip(names, combo)) for combo in itertools.product(*(values[n] for n in names)))


# ----------------------------------------------------------------------------- the search space


def test_space_specs_become_the_distributions_they_say():
    import optuna

    listed = search_space.parse_parameter("eps_scale=0.01,0.03,0.1")
    assert listed.values == (0.01, 0.03, 0.1)
    assert listed.distribution() == optuna.distributions.CategoricalDistribution((0.01, 0.03, 0.1))
    log = search_space.parse_parameter("lr=1e-4:1e-2:log")
    assert log.distribution() == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    stepped = search_space.parse_parameter("n-neighbors=5:30:5")   # a flag's spelling is accepted
    assert stepped.distribution() == optuna.distributions.IntDistribution(5, 30, step=5)
    assert search_space.parse_parameter("method=advt,spgd").values == ("advt", "spgd")
    assert search_space.parse_parameter("towards_only=true,false").values == (True, False)
    assert search_space.grid([listed, search_space.parse_parameter("sigma=0.1,0.5")]) == {
        "eps_scale": [0.01, 0.03, 0.1], "sigma": [0.1, 0.5]}
    for text in ("lr=1e-4:1e-2:log", "eps_scale=0.01,0.03", "n_neighbors=5:30:5"):
        assert search_space.parse_parameter(search_space.parse_parameter(text).spec()) == \
            search_space.parse_parameter(text)


# ----------------------------------------------------------------------------- workers sharing one storage


def test_two_workers_share_one_sqlite_study_and_a_rerun_runs_nothing(synthetic_prepared, tmp_path):
    flags = ["--method", "advt", "--sampler", "grid", "--space", "lr=0.003,0.001", "--space", "eps_scale=0.01,0.1",
             "--jobs", "2", "--epoch", "6"]   # trials long enough that both workers start one
    result = run_tune(synthetic_prepared, tmp_path, "two", *flags)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study = load(tmp_path, "two")
    assert states(study) == ["COMPLETE"] * 4
    assert complete_params(study) == grid_points(lr=[0.003, 0.001], eps_scale=[0.01, 0.1])   # each point once
    pids = set()
    for trial in study.get_trials():
        run = tmp_path / "tune" / "two" / trial.user_attrs["run_dir"]
        results = json.load(open(run / "results.json"))
        config = json.load(open(run / "args.json"))["config"]
        assert results["dev_accuracy_best"] == trial.value   # the objective is the run's best dev accuracy
        assert (config["lr"], config["eps_scale"], config["method"]) == (trial.params["lr"],
                                                                       trial.params["eps_scale"], "advt")
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4, 5, 6]   # one report per epoch
        assert max(trial.intermediate_values.values()) == trial.value
        pids.add(trial.user_attrs["pid"])
    assert len(pids) == 2   # two worker processes took part
    table = (tmp_path / "tune" / "two" / "trials.md").read_text()
    assert "complete 4" in table and "Best: trial" in table
    assert (tmp_path / "tune" / "two" / "optimization_history.png").stat().st_size > 0
    report = json.load(open(tmp_path / "tune" / "two" / "trials.json"))
    assert report["best"]["dev"] == pytest.approx(100 * study.best_value)

    again = run_tune(synthetic_prepared, tmp_path, "two", *flags)   # a finished study: nothing runs
    assert again.returncode == 0 and "nothing to run" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]
    assert len(load(tmp_path, "two").get_trials()) == 4

    os.remove(tmp_path / "tune" / "two" / "trials.md")
    report = run_tune(synthetic_prepared, tmp_path, "two", "--report")   # the study's name suffices
    assert report.returncode == 0, report.stderr[-2000:]
    assert "| trial | lr | eps_scale | dev |" in (tmp_path / "tune" / "two" / "trials.md").read_text()

    other = run_tune(synthetic_prepared, tmp_path, "two", "--method", "advt", "--sampler", "grid",
                     "--space", "lr=0.003,0.002")   # the same name with another space: refused, nothing changes
    assert other.returncode == 2 and "defined otherwise" in other.stderr, other.stderr[-2000:]
    assert len(load(tmp_path, "two").get_trials()) == 4


def test_two_commands_on_one_study_split_the_grid(synthetic_prepared, tmp_path):
    """Two `iadv tune` processes on one storage (as two machines would be): every grid point exactly once."""
    flags = ["--method", "baseline", "--sampler", "grid", "--space", "lr=0.003,0.002,0.001",
             "--space", "dropout=0.1,0.2"]
    # Started together: both create the new storage's tables and the study at once, then share the grid.
    first, second = (start_tune(synthetic_prepared, tmp_path, "shared", *flags) for _ in range(2))
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    study = load(tmp_path, "shared")
    assert states(study) == ["COMPLETE"] * 6
    assert complete_params(study) == grid_points(lr=[0.003, 0.002, 0.001], dropout=[0.1, 0.2])
    assert len({t.user_attrs["pid"] for t in study.get_trials()}) == 2


# ----------------------------------------------------------------------------- killed workers


def _wait_for_running_trial_with_snapshot(runs, study_name, process, deadline_s=120):
    """The (trial, run dir) of a running trial once its run has written a snapshot."""
    import optuna
    import sqlalchemy.exc

    end = time.time() + deadline_s
    while time.time() < end:
        if process.poll() is not None:
            raise AssertionError("iadv tune ended (%s) before a trial wrote a snapshot:\n%s"
                                 % (process.returncode, process.stdout.read()[-3000:]))
        db = os.path.join(str(runs), "tune", study_name + ".db")
        if os.path.exists(db):
            try:
                study = load(runs, study_name)
                for trial in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
                    run = trial.user_attrs.get("run_dir")
                    if run and "pid" in trial.user_attrs:
                        path = os.path.join(str(runs), "tune", study_name, run)
                        if any(n.startswith("snapshot_iter_") for n in os.listdir(path)):
                            return trial, path
            except (KeyError, OSError, optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError):
                pass   # not created yet, or its tables being created by the command (any database error)
        time.sleep(0.1)
    process.kill()
    raise AssertionError("no running trial wrote a snapshot in %d s:\n%s" % (deadline_s, process.communicate()[0][-3000:]))


# Trials of many short epochs: a snapshot every 4 updates, and several seconds left after the first one.
SLOW_FLAGS = ["--method", "advt", "--sampler", "grid", "--space", "eps_scale=0.01,0.1", "--epoch", "16",
              "--snapshot-interval", "4"]


def _assert_resumed(study, killed):
    """The killed trial failed; its retry completed in the same run directory, from the run's snapshot."""
    trials = study.get_trials()
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert [t.number for t in failed] == [killed.number]
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
    assert retry[0].user_attrs["run_dir"] == killed.user_attrs["run_dir"]
    assert retry[0].user_attrs["resumed_from"].startswith("snapshot_iter_")
    assert complete_params(study) == grid_points(eps_scale=[0.01, 0.1])   # every point once, none lost


def test_a_killed_worker_fails_its_trial_whose_retry_resumes_the_run(synthetic_prepared, tmp_path):
    process = start_tune(synthetic_prepared, tmp_path, "killed", *SLOW_FLAGS)
    trial, run = _wait_for_running_trial_with_snapshot(tmp_path, "killed", process)
    os.kill(trial.user_attrs["pid"], signal.SIGKILL)   # the worker, not the command
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-3000:]
    assert "[retry] trial %d" % trial.number in output
    study = load(tmp_path, "killed")
    _assert_resumed(study, trial)
    assert "resuming from snapshot_iter_" in open(os.path.join(run, "train.log")).read()
    table = (tmp_path / "tune" / "killed" / "trials.md").read_text()
    assert "retry of %d" % trial.number in table and "| fail |" in table


def test_the_killed_command_is_continued_by_rerunning_it(synthetic_prepared, tmp_path):
    process = start_tune(synthetic_prepared, tmp_path, "rerun", *SLOW_FLAGS)
    trial, _ = _wait_for_running_trial_with_snapshot(tmp_path, "rerun", process)
    process.kill()   # SIGKILL to `iadv tune` itself: its worker is told by the kernel (PR_SET_PDEATHSIG)
    process.communicate(timeout=60)
    deadline = time.time() + 60
    while time.time() < deadline and any(t.state.name == "RUNNING" for t in load(tmp_path, "rerun").get_trials()):
        time.sleep(0.2)
    result = run_tune(synthetic_prepared, tmp_path, "rerun", *SLOW_FLAGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _assert_resumed(load(tmp_path, "rerun"), trial)


# ----------------------------------------------------------------------------- pruning


def test_a_trial_below_the_median_is_pruned_after_its_first_epoch(synthetic_prepared, tmp_path):
    """Two earlier trials at 97% dev after every epoch; a trial at lr 1e-7 (chance after epoch 1) is pruned."""
    import optuna

    from interpretable_adv.cli import build_parser
    from interpretable_adv.commands.tune import settings_of
    from interpretable_adv.tuning.study import open_study

    flags = ["--method", "baseline", "--sampler", "tpe", "--space", "lr=1e-7:2e-7:log", "--trials", "3"]
    args = build_parser().parse_args(tune_command(synthetic_prepared, tmp_path, "pruned", *flags)[3:])
    settings = settings_of(args)
    study = open_study(settings)
    for value in (1.5e-7, 1.6e-7):   # the history a pruner compares with: two complete trials
        study.add_trial(optuna.trial.create_trial(params={"lr": value}, distributions={
            "lr": settings.parameters[0].distribution()}, value=0.97, intermediate_values={1: 0.97, 2: 0.97, 3: 0.97}))
    result = run_tune(synthetic_prepared, tmp_path, "pruned", *flags)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trial = load(tmp_path, "pruned").get_trials()[2]
    assert trial.state.name == "PRUNED"
    assert list(trial.intermediate_values) == [1] and trial.intermediate_values[1] < 0.97
    run = tmp_path / "tune" / "pruned" / trial.user_attrs["run_dir"]
    assert not (run / "results.json").exists() and (run / "args.json").exists()   # stopped, resumable
    assert "[pruned] trial 2" in result.stdout
    assert "pruned 1" in (tmp_path / "tune" / "pruned" / "trials.md").read_text()
    assert (tmp_path / "tune" / "pruned" / "intermediate_values.png").exists()


def test_a_diverged_trial_fails_with_its_reason_and_counts_as_tried(synthetic_prepared, tmp_path):
    flags = ["--method", "baseline", "--sampler", "grid", "--space", "lr=1e30,0.003", "--epoch", "2"]
    result = run_tune(synthetic_prepared, tmp_path, "diverged", *flags)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trials = {t.params["lr"]: t for t in load(tmp_path, "diverged").get_trials()}
    assert trials[1e30].state.name == "FAIL" and "NaN or infinite" in trials[1e30].user_attrs["error"]
    assert trials[0.003].state.name == "COMPLETE"
    assert "fail: iteration" in (tmp_path / "tune" / "diverged" / "trials.md").read_text()
    again = run_tune(synthetic_prepared, tmp_path, "diverged", *flags)   # not tried again: it would diverge again
    assert "nothing to run" in again.stdout and len(load(tmp_path, "diverged").get_trials()) == 2


# ----------------------------------------------------------------------------- the sweep read from a study


def test_the_sweep_report_reads_a_grid_study_like_named_runs(tmp_path):
    """The same runs as a study (trials.json + trial-NNNN) and as METHOD-xSCALE directories: the same grid."""
    from interpretable_adv.reports.sweep import read_sweep

    study, named = tmp_path / "study", tmp_path / "named"
    trials = []
    for number, (method, scale, dev) in enumerate([("advt", 0.01, 0.80), ("advt", 0.1, 0.70),
                                                   ("spgd", 0.01, 0.82), ("spgd", 0.1, 0.75)]):
        results = {"dev_accuracy_best": dev, "test_accuracy": dev - 0.01, "test_majority_share": 0.55,
                   "adversarial": {"eps": scale, "mean_token_perturbation_ratio": scale / 10}}
        for path in (study / ("trial-%04d" % number), named / ("%s-x%s" % (method, scale))):
            path.mkdir(parents=True)
            (path / "results.json").write_text(json.dumps(results))
        trials.append({"number": number, "state": "complete", "params": {"method": method, "eps_scale": scale},
                       "run_dir": "trial-%04d" % number})
    trials.append({"number": 4, "state": "pruned", "params": {"method": "spgd", "eps_scale": 0.3},
                   "run_dir": "trial-0004"})   # not a point of the grid's table
    (study / "trials.json").write_text(json.dumps({"trials": trials, "definition": {"fixed": {}}}))
    for root in (study / "controls", named):
        (root / "advt-eps0").mkdir(parents=True)
        (root / "advt-eps0" / "results.json").write_text(json.dumps({"dev_accuracy_best": 0.5, "test_accuracy": 0.5}))

    def without_paths(grid):
        return {m: {s: {k: v for k, v in c.items() if k != "run"} for s, c in row.items()} for m, row in grid.items()}

    (grid_a, controls_a), (grid_b, controls_b) = read_sweep(str(study)), read_sweep(str(named))
    assert without_paths(grid_a) == without_paths(grid_b)
    assert sorted(grid_a) == ["advt", "spgd"] and sorted(grid_a["spgd"]) == [0.01, 0.1]
    assert grid_a["spgd"][0.01]["dev"] == pytest.approx(82.0)
    assert list(controls_a) == list(controls_b) == ["advt-eps0"]


def test_a_setting_is_summarised_over_its_seeds():
    from interpretable_adv.reports.trials import over_seeds, trials_markdown

    rows = [{"number": i, "state": state, "params": {"seed": seed, "eps_scale": scale}, "dev": dev, "last_dev": dev,
             "epochs_reported": 3, "wall_time_s": 1.0, "run_dir": "trial-%04d" % i, "retry_of": None}
            for i, (state, seed, scale, dev) in enumerate([
                ("complete", 0, 0.1, 80.0), ("complete", 1, 0.1, 84.0), ("complete", 0, 0.03, 83.0),
                ("complete", 1, 0.03, 83.0), ("pruned", 2, 0.03, None)])]
    summary = over_seeds(rows, ["seed", "eps_scale"])
    assert [(g[0], g[1]) for g in summary] == [({"eps_scale": 0.03}, [(0, 83.0), (1, 83.0)]),   # best mean first
                                               ({"eps_scale": 0.1}, [(0, 80.0), (1, 84.0)])]
    assert summary[1][2] == 82.0 and summary[1][3] == pytest.approx(2 ** 1.5)   # sd of 80, 84: sqrt(8)
    table = trials_markdown("s", rows, rows[1], ["seed", "eps_scale"])
    assert "| 0.1 | 0: 80.00, 1: 84.00 | 82.00 +- 2.83 |" in table
