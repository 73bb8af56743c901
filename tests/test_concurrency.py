"""One writer per output (issue 21): two commands into one directory, started together, never mix or overwrite.

Every command that writes a run or an output directory holds
:class:`interpretable_adv.locking.OutputLock`; a second writer is refused in
one line (exit 2) that names the holder's PID and command, and writes
nothing. Real races are run as two processes started together; the matrix of
refusals uses a stand-in holder (``tests/lock_holder.py``) so that each case
is deterministic, and checks that every file under the test's tree is
byte-identical afterwards. A holder killed with ``kill -9`` leaves no lock
behind.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from interpretable_adv.locking import LOCK_NAME, OutputInUse, OutputLock, lock_file_of
from tests.helpers import invoke, tiny_test_config

HERE = os.path.dirname(os.path.abspath(__file__))
IADV = os.path.join(os.path.dirname(sys.executable), "iadv")
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.path.dirname(HERE))


def tree_bytes(root):
    """``{relative path: sha256 of the content, or 'dir'}`` of everything under ``root``."""
    state = {}
    for base, dirs, files in os.walk(root):
        for name in dirs:
            state[os.path.relpath(os.path.join(base, name), root)] = "dir"
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                state[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return state


@pytest.fixture(scope="module")
def finished(tmp_path_factory, synthetic_prepared, synthetic_raw):
    """A finished tiny LM and SPGD run (``runs/lm``, ``runs/spgd``), a seed layout, an upstream log, a sweep."""
    from interpretable_adv.training.classifier import train_classifier
    from interpretable_adv.training.lm import train_language_model

    root = tmp_path_factory.mktemp("finished")

    runs = root / "runs"
    train_language_model(tiny_test_config("pretrain", data=synthetic_prepared, out=str(runs / "lm")))
    train_classifier(tiny_test_config("train", data=synthetic_prepared, out=str(runs / "spgd"), method="spgd",
                                      pretrained=str(runs / "lm" / "lm.npz")))
    seeds = root / "seeds"
    seeds.mkdir()
    os.symlink(str(runs), str(seeds / "seed0"))
    log = root / "upstream.log"
    log.write_text("vocab:87008\n"
                   "2024-01-01 10:00:00,000 : MainThread : INFO : epoch:0\n"
                   "2024-01-01 10:00:10,000 : MainThread : INFO :  [dev] accuracy:80.0\n"
                   "2024-01-01 10:00:20,000 : MainThread : INFO :  [test] accuracy:79.5\n")
    sweep = root / "sweep"
    sweep.mkdir()
    shutil.copytree(str(runs / "spgd"), str(sweep / "spgd-x0.03"))
    return {"root": str(root), "data": synthetic_prepared, "raw": synthetic_raw, "runs": str(runs),
            "lm": str(runs / "lm" / "lm.npz"), "seeds": str(seeds), "log": str(log), "sweep": str(sweep)}


def train_argv(finished, out, method="spgd"):
    argv = ["train", "--preset", "tiny", "--data", finished["data"], "-o", str(out), "--no-progress", "--test",
            "--method", method]
    return argv + (["--pretrained", finished["lm"]] if method != "baseline" else [])


# ----------------------------------------------------------------------------- the lock itself


def test_a_second_lock_is_refused_naming_the_holder_and_released_locks_leave_nothing(tmp_path):
    directory = str(tmp_path / "out")
    with OutputLock(directory, "--out"):
        assert os.path.isfile(os.path.join(directory, LOCK_NAME))
        with pytest.raises(OutputInUse, match=r"--out %s: in use by PID %d on " % (directory, os.getpid())):
            OutputLock(directory, "--out").acquire()
    assert os.listdir(directory) == []   # released: the lock file is gone, and a new lock is granted
    with OutputLock(directory, "--out"):
        pass
    assert lock_file_of(directory, beside=True) == os.path.join(str(tmp_path), ".out" + LOCK_NAME)


def test_a_lock_file_left_by_a_killed_holder_does_not_block(tmp_path):
    directory = tmp_path / "out"
    directory.mkdir()
    (directory / LOCK_NAME).write_text(json.dumps({"pid": 999999, "argv": ["iadv", "train"]}))   # no flock held
    with OutputLock(str(directory)):
        record = json.loads((directory / LOCK_NAME).read_text())
        assert record["pid"] == os.getpid()


# ----------------------------------------------------------------------------- real races


def _start_together(commands):
    """Start every command of ``{name: argv}`` at once; ``{name: (exit status, stdout, stderr, pid)}``."""
    processes = {name: subprocess.Popen(argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name, argv in commands.items()}
    done = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=600)
        done[name] = (process.returncode, out, err, process.pid)
    return done


def test_two_trainings_started_together_into_one_out_one_wins_the_other_writes_nothing(finished, tmp_path):
    """The issue's case: baseline and SPGD started together into one -o; before, both exited 0 and only
    SPGD's run remained. Now exactly one runs; the other is refused in one line (exit 2)."""
    out = tmp_path / "D"
    done = _start_together({"baseline": [IADV] + train_argv(finished, out, "baseline"),
                            "spgd": [IADV] + train_argv(finished, out, "spgd")})
    codes = {name: result[0] for name, result in done.items()}
    assert sorted(codes.values()) == [0, 2], {n: (r[0], r[2][-1500:]) for n, r in done.items()}
    winner = next(name for name, code in codes.items() if code == 0)
    loser = next(name for name, code in codes.items() if code == 2)
    lines = done[loser][2].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iadv train: error: "), done[loser][2]
    # started together, the loser meets the lock ("in use by PID <winner>"); had the winner already finished,
    # the resume check would refuse it instead ("other settings")
    assert ("in use by PID %d" % done[winner][3]) in lines[0] or "other settings" in lines[0], lines[0]
    saved = json.load(open(out / "args.json"))
    assert saved["config"]["method"] == winner and winner in " ".join(saved["argv"])
    assert json.load(open(out / "results.json"))["method"] == winner
    assert not os.path.exists(out / LOCK_NAME)   # the winner released its lock


def test_a_killed_holder_leaves_no_lock_and_the_rerun_resumes(finished, tmp_path, capsys):
    """kill -9 during training: the OS drops the lock; the same command then continues the run."""
    out = tmp_path / "D"
    argv = ["train", "--preset", "tiny", "--data", finished["data"], "-o", str(out), "--no-progress",
            "--method", "baseline", "--snapshot-interval", "5"]
    process = subprocess.Popen([IADV] + argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def has_snapshot():
        return os.path.isdir(out) and any(n.startswith("snapshot_iter_") for n in os.listdir(out))

    deadline = time.time() + 120
    while process.poll() is None and not has_snapshot() and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    holder = json.loads((out / LOCK_NAME).read_text())
    assert holder["pid"] == process.pid and "train" in holder["argv"]
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert os.path.exists(out / LOCK_NAME)   # the file stays behind; the lock does not
    code, _, err = invoke(argv + ["--epoch", "2"], capsys)
    assert code == 2 and "--epoch 2 (saved 12)" in err, err   # the lock is free: the resume check speaks
    code, _, err = invoke(argv, capsys)
    assert code == 0, err[-2000:]
    assert json.load(open(out / "results.json"))["method"] == "baseline"
    assert not os.path.exists(out / LOCK_NAME)


# ----------------------------------------------------------------------------- every command against a holder


@pytest.fixture
def holder():
    """``hold(directory, command, beside=False)``: a separate process holds the lock, as that command would."""
    processes = []

    def hold(directory, command, beside=False):
        process = subprocess.Popen([sys.executable, os.path.join(HERE, "lock_holder.py"), str(directory)]
                                   + (["--beside"] if beside else []) + ["--", IADV] + command.split(),
                                   env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        processes.append(process)
        line = process.stdout.readline()
        assert line.startswith("held "), line
        return process.pid

    yield hold
    for process in processes:
        process.stdin.close()
        process.wait(30)


def _copy(finished, tmp_path):
    """A private copy of the finished runs (and a seed layout over it) for a test to hold and aim at."""
    runs = tmp_path / "runs"
    shutil.copytree(finished["runs"], str(runs))
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    os.symlink(str(runs), str(seeds / "seed0"))
    return runs, seeds


# (what holds the lock, where; the refused command, as a format over the paths)
HOLDERS_AND_LOSERS = [
    ("train --method baseline -o D", "{runs}/spgd", False,
     "train --preset tiny --data {data} -o {runs}/spgd --no-progress --test --method spgd --pretrained {lm}"),
    ("train --method spgd -o D", "{runs}/spgd", False,
     "train --preset tiny --data {data} -o {runs}/spgd --no-progress --test --method spgd --pretrained {lm}"),
    ("pretrain -o D", "{runs}/lm", False, "pretrain --preset tiny --data {data} -o {runs}/lm --no-progress --test"),
    ("train -o D", "{runs}/lm", False, "pretrain --preset tiny --data {data} -o {runs}/lm --no-progress --test"),
    ("evaluate -o E", "{tmp}/E", False,
     "evaluate --runs {runs} --data {data} -o {tmp}/E --no-progress --sample 5"),
    ("summarize -o E", "{tmp}/E", False,
     "evaluate --runs {runs} --data {data} -o {tmp}/E --no-progress --sample 5"),
    ("evaluate -o E", "{tmp}/E", False, "evaluate --runs {runs} --data {data} -o {tmp}/E --table3-only"),
    ("evaluate -o E", "{tmp}/E", False, "summarize --runs {seeds} -o {tmp}/E"),
    ("summarize -o E", "{tmp}/E", False, "summarize --runs {seeds} -o {tmp}/E"),
    ("evaluate -o E", "{tmp}/E", False, "compare-upstream --ours {runs}/spgd --upstream {log} -o {tmp}/E"),
    ("prepare --out P", "{tmp}/P", True, "prepare {raw} --out {tmp}/P --quiet --workers 1"),
    ("train -o P", "{tmp}/P", False, "prepare {raw} --out {tmp}/P --quiet --workers 1 --force"),
    ("synthetic --out S", "{tmp}/S", False, "synthetic --out {tmp}/S --train 5 --test 5 --unsup 5"),
    ("bench -o B", "{tmp}/B", False, "bench --sections matmul -o {tmp}/B"),
]


@pytest.mark.parametrize("held_by, held, beside, command", HOLDERS_AND_LOSERS,
                         ids=["%s vs %s" % (h, c.split()[0]) for h, _, _, c in HOLDERS_AND_LOSERS])
def test_a_second_writer_is_refused_in_one_line_and_every_file_stays_byte_identical(
        finished, tmp_path, capsys, holder, held_by, held, beside, command):
    runs, seeds = _copy(finished, tmp_path)
    paths = dict(finished, runs=str(runs), seeds=str(seeds), tmp=str(tmp_path))
    directory = held.format(**paths)
    if not beside:
        os.makedirs(directory, exist_ok=True)
    pid = holder(directory, held_by.replace(" D", " " + directory))
    before = tree_bytes(str(tmp_path))
    argv = command.format(**paths).split()
    code, _, err = invoke(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("iadv %s: error: --out %s: in use by PID %d on "
                                                   % (argv[0], directory, pid)), err
    assert "(iadv %s" % held_by.split()[0] in lines[0]   # the holder's command
    assert tree_bytes(str(tmp_path)) == before, "the refused command wrote something"


def test_the_sweep_report_is_one_writer_too(finished, holder):
    from interpretable_adv.reports.sweep import write_sweep_report

    pid = holder(finished["sweep"], "python -m interpretable_adv.reports.sweep " + finished["sweep"])
    before = tree_bytes(finished["sweep"])
    with pytest.raises(OutputInUse, match="sweep directory %s: in use by PID %d" % (finished["sweep"], pid)):
        write_sweep_report(finished["sweep"])
    assert tree_bytes(finished["sweep"]) == before


def test_a_second_experiment_script_on_one_run_set_is_refused_and_nested_scripts_share_the_lock(tmp_path):
    """experiments/lib.sh locks $RUNS for a script's lifetime (flock); scripts it starts share the lock."""
    if shutil.which("flock") is None:
        pytest.skip("needs util-linux flock")
    lib = os.path.join(HERE, "..", "experiments", "lib.sh")
    env = dict(ENV, RUNS=str(tmp_path / "runs"), PRESET="tiny", PYTHON=sys.executable)
    env.pop("IADV_SCRIPT_LOCK", None)
    first = subprocess.Popen(["bash", "-c", 'source "$1"; echo held; bash -c "source $1; echo nested ran"; read',
                              "bash", lib], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline() == "held\n"
        assert first.stdout.readline() == "nested ran\n"   # a script started by the holder is not refused
        logs = tree_bytes(str(tmp_path / "runs"))
        second = subprocess.run(["bash", "-c", 'source "$1"; echo second ran', "bash", lib], env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        first.stdin.close()
        first.wait(30)
    assert second.returncode == 2 and "second ran" not in second.stdout
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by PID %d" % first.pid in lines[0], second.stderr
    assert tree_bytes(str(tmp_path / "runs")) == logs
