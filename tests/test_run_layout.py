"""Where runs go by default, and which finished run a resumable stage may reuse (issue 24, items 3 and 4).

The scripts write ``RUNS/lm/`` and ``RUNS/seedN/ROW/``; the commands' defaults
follow that layout, a ``--test`` run never lands where a script looks for the
real one, and a stage reuses only a finished run of exactly its own settings.
"""

import json
import os
import subprocess
import sys
import types

import pytest

from interpretable_adv.commands.training_flags import resolve_config
from tests.helpers import invoke

HERE = os.path.dirname(os.path.abspath(__file__))
IADV = os.path.join(os.path.dirname(sys.executable), "iadv")


def _out(preset="small", test=False, **flags):
    return resolve_config(types.SimpleNamespace(preset=preset, test=test, progress=None, **flags), "train")["out"]


def test_a_classifier_goes_to_its_own_row_and_seed_by_default():
    lm = "runs/small/lm/lm.npz"
    assert _out(method="spgd", pretrained=lm) == "runs/small/seed0/spgd"
    assert _out(method="baseline", pretrained=lm, seed=2) == "runs/small/seed2/pretrained"
    assert _out(method="baseline") == "runs/small/seed0/baseline"
    assert _out(method="spgd") == "runs/small/seed0/spgd_scratch"   # no row of that kind: never another row's
    assert _out(method="spgd", pretrained=lm, lm_term="runs/small/clm/lm.npz") == "runs/small/seed0/spgd_lm"
    assert _out(preset="tiny", method="vat", pretrained=lm, seed=1) == "runs/tiny/seed1/vat"
    assert _out(method="spgd", out="mine/{row}") == "mine/{row}"   # a given -o is taken as it is


def test_a_test_run_goes_beside_the_real_one_unless_told_otherwise():
    assert _out(test=True, method="advt", pretrained="x") == "runs/small/seed0/advt-test"
    assert _out(test=True, method="advt", out="here") == "here"
    config = resolve_config(types.SimpleNamespace(preset="small", test=True, progress=None), "pretrain")
    assert config["out"] == "runs/small/lm-test" and config["test"] is True


@pytest.fixture(scope="module")
def run_set(tmp_path_factory, synthetic_prepared):
    """A tiny run set laid out as the scripts lay it out: RUNS/lm (full length) and RUNS/seed0/spgd (--test)."""
    root = tmp_path_factory.mktemp("layout") / "runs"
    lm = str(root / "lm")
    assert main_ok(["pretrain", "--preset", "tiny", "--data", synthetic_prepared, "-o", lm, "--no-progress"])
    assert main_ok(["train", "--preset", "tiny", "--data", synthetic_prepared, "--method", "spgd", "--test",
                    "--pretrained", os.path.join(lm, "lm.npz"), "-o", str(root / "seed0" / "spgd"), "--no-progress"])
    return {"root": str(root), "data": synthetic_prepared, "lm": lm}


def main_ok(argv):
    from interpretable_adv.cli import main

    return main(argv) == 0


def test_results_record_a_test_run_and_what_shortened_it(run_set):
    full = json.load(open(os.path.join(run_set["lm"], "results.json")))
    assert full["test"] is False and full["shortened"] == {}
    short = json.load(open(os.path.join(run_set["root"], "seed0", "spgd", "results.json")))
    assert short["test"] is True
    assert short["shortened"] == {"--epoch": 1, "--max-train-examples": 200}   # --test's overrides


def test_check_done_accepts_only_a_finished_run_of_the_same_settings(run_set, capsys):
    flags = ["pretrain", "--preset", "tiny", "--data", run_set["data"], "-o", run_set["lm"], "--check-done"]
    code, out, _ = invoke(flags, capsys)
    assert code == 0 and "finished" in out
    code, out, _ = invoke(flags + ["--test"], capsys)   # the same directory, asked for as a --test run
    assert code == 1 and "other settings" in out and "--max-iterations 20 (saved null)" in out
    code, out, _ = invoke(flags[:-3] + ["-o", os.path.join(run_set["root"], "none"), "--check-done"], capsys)
    assert code == 1 and "no args.json" in out


def test_a_stage_does_not_reuse_a_test_run(run_set, tmp_path):
    """`make reproduce-small` after the README's --test commands used to print [done] lm for a 20-iteration LM."""
    lm = tmp_path / "runs" / "lm"
    assert main_ok(["pretrain", "--preset", "tiny", "--data", run_set["data"], "-o", str(lm), "--no-progress",
                    "--test"])
    before = (lm / "results.json").read_bytes()
    lib = os.path.join(HERE, "..", "experiments", "lib.sh")
    env = dict(os.environ, RUNS=str(tmp_path / "runs"), PYTHON=sys.executable, IADV=IADV, PRESET="tiny",
               DATA=run_set["data"])
    result = subprocess.run(["bash", "-c", 'source "$1"; pretrain_lm', "bash", lib], env=env, capture_output=True,
                            text=True, timeout=300)
    assert "[done] lm" not in result.stdout, result.stdout
    assert "[redo]" in result.stdout and "other settings" in result.stdout
    assert result.returncode != 0   # the full run refuses to resume into the test run's snapshots ...
    assert "--max-iterations" in (tmp_path / "runs" / "logs" / "lm.log").read_text()   # ... naming the differences
    assert (lm / "results.json").read_bytes() == before   # and nothing of the test run was overwritten


def test_evaluate_reads_one_seed_and_finds_the_lm_the_runs_used(run_set, capsys):
    code, _, err = invoke(["evaluate", "--runs", run_set["root"], "--table3-only"], capsys)
    assert code == 2 and "holds the runs of seeds 0" in err and "--runs %s" % os.path.join(run_set["root"], "seed0") \
        in err
    seed0 = os.path.join(run_set["root"], "seed0")
    code, out, err = invoke(["evaluate", "--runs", seed0, "--sample", "3", "--no-progress"], capsys)   # no --lm
    assert code == 0, err
    results = json.load(open(os.path.join(seed0, "eval", "results.json")))
    assert results["lm"] == os.path.join(run_set["lm"], "lm.npz")


def test_the_command_line_speaks_chainer_and_points_to_the_right_help(capsys):
    """Item 8: -r for --resume and --version as Chainer's example scripts have them; an unknown flag is the
    subcommand's error, pointing to the subcommand's help (which lists its flags)."""
    code, _, err = invoke(["train", "--preset", "tiny", "--no-such-flag"], capsys)
    assert code == 2 and err.strip() == "iadv train: error: unrecognized arguments: --no-such-flag " \
                                        "(see iadv train --help)"
    with pytest.raises(SystemExit) as stop:
        from interpretable_adv.cli import main
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("iadv 0.")
    from interpretable_adv.cli import build_parser

    assert build_parser().parse_args(["train", "-r", "snap"]).resume == "snap"
    assert build_parser().parse_args(["pretrain", "-r", "snap"]).resume == "snap"
