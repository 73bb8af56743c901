"""experiments/paper_trial.sh (issue 24, item 1): every stage for a few updates, the cost estimate, the plateau check.

Run at the tiny preset on the CPU (the paper preset is the same script on a GPU): the estimate is checked against a
hand computation from the runs' own logs, and the check against both outcomes.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _trial(tmp_path, **env):
    env = dict(os.environ, PRESET="tiny", RUNS=str(tmp_path / "runs"), DATA=str(tmp_path / "data"),
               RAW=str(tmp_path / "raw"), IADV=os.path.join(os.path.dirname(sys.executable), "iadv"),
               PYTHON=sys.executable, TRIAL_UPDATES="6", SAMPLE="5", KINDS="paper", **env)
    return subprocess.run(["bash", os.path.join(REPO, "experiments", "paper_trial.sh")], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_trial_runs_every_stage_prices_the_full_run_and_checks_the_plateau(tmp_path):
    # Six updates leave the tiny Pretrained at chance (one class): the verdict is PLATEAU, exit 1 ...
    failed = _trial(tmp_path)
    assert failed.returncode == 1 and "PLATEAU" in failed.stderr and "--lr-warmup 1000" in failed.stderr
    # ... and the same finished runs pass a bar set below them, without any stage retrained.
    passed = _trial(tmp_path, TRIAL_MIN_DEV="0", TRIAL_MAX_SHARE="1")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "trial passed" in passed.stdout and "[run]  seed0" not in passed.stdout
    runs = tmp_path / "runs"
    pretrained = runs / "seed0" / "pretrained"
    config = json.load(open(pretrained / "args.json"))["config"]
    results = json.load(open(pretrained / "results.json"))
    assert config["epoch"] == 1 and results["train_examples"] == 6 * config["batchsize"]   # the trial's length
    assert json.load(open(runs / "lm" / "results.json"))["iterations"] == 6
    # Pretrained's estimate by hand: the tiny preset's epochs x all training tokens / the logged throughput.
    speeds = [e["main/tokens_per_sec"] for e in json.load(open(pretrained / "log")) if "main/tokens_per_sec" in e]
    from interpretable_adv.data import PreparedData
    from interpretable_adv.presets import load_preset
    n_full = len(PreparedData(str(tmp_path / "data")).split("train"))
    hours = load_preset("tiny", "train")["epoch"] * results["train_tokens_per_epoch"] * n_full / \
        results["train_examples"] / np.mean(speeds) / 3600
    sys.path.insert(0, os.path.join(REPO, "experiments"))
    import trial_report

    assert trial_report.classifier_hours(str(pretrained)) == pytest.approx(hours, rel=1e-9)
    assert "| Pretrained | 6 | %.2f |" % hours in passed.stdout
