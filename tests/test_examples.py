"""The library example a README reader is pointed to runs, and does what it says (issue 24, item 6)."""

import os
import re
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "spgd_on_your_model.py")


def _run(*flags):
    result = subprocess.run([sys.executable, EXAMPLE, *flags], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr   # its own checks of d hold on every update
    return re.search(r"test accuracy ([\d.]+); last batch: \|\|d_b\|\| ([\d.]+)-([\d.]+) \(eps ([\d.]+)\), "
                     r"(\d+) of (\d+) words moved", result.stdout).groups()


def test_spgd_on_your_own_model_trains_and_keeps_spgds_properties():
    accuracy, low, high, eps, moved, words = _run("--iterations", "150")
    assert float(accuracy) > 0.9                       # the toy task is learned with the adversarial term on
    assert 0 < float(low) <= float(high) <= float(eps) == 1.0
    assert 0.15 * int(words) < int(moved) <= 0.25 * int(words)   # floor(0.25 L_b) per review, L_b >= 7


def test_eps_zero_moves_nothing():
    _, low, high, _, moved, _ = _run("--iterations", "20", "--eps", "0")
    assert float(high) == 0.0 and int(moved) == 0
