"""``iadv bench``: the plan, the worker round trip and the report (no timing assertions)."""

import argparse
import json
import os

from interpretable_adv import methods
from interpretable_adv.benchmarking import plan as bench_plan
from interpretable_adv.benchmarking import tables as bench_tables
from interpretable_adv.benchmarking import workers as bench_workers
from interpretable_adv.commands import bench as bench_command
from interpretable_adv.cli import main


def _args(**overrides):
    parser = argparse.ArgumentParser()
    bench_command.add_arguments(parser)
    args = parser.parse_args([])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_plan_runs_the_naive_version_only_where_it_fits_and_one_step_at_paper_size_on_cpu():
    specs = bench_plan.plan(_args(vocab_sizes=[1000, 87008], naive_limit_gib=1.0, sizes=["small", "paper"]))
    naive = {s["vocab"]: s for s in specs if s["section"] == "neighbors" and s["variant"] == "naive"}
    assert "skipped" not in naive[1000]
    assert "85 GiB" in naive[87008]["skipped"]          # 12 bytes x 87008^2
    steps = {(s["size"], s.get("method") or s.get("softmax")): s["steps"] for s in specs if "size" in s}
    assert steps[("small", "spgd")] == 50 and steps[("paper", "spgd")] == 1 and steps[("paper", "full")] == 1
    assert [s["method"] for s in specs if s["section"] == "classifier" and s["size"] == "small"] == \
        list(methods.names())


def test_lstm_flops_by_hand():
    # one token, D = 1, H = 1: 2 x (1 + 1) x 4 = 16 forward in the LSTM; head 2 x (1 x 3) + 2 x (3 x 2) = 18
    assert bench_workers.lstm_flops(1, 1, 1, 1, fc_dim=3) == 3 * (16 + 18)
    assert bench_workers.lstm_flops(10, 2, 4, 8, fc_dim=3, passes=2) == 2 * 3 * (2 * 10 * 12 * 32 + 2 * (2 * 24 + 2 * 6))


def test_bench_neighbors_end_to_end_writes_json_and_tables(tmp_path):
    out = tmp_path / "bench"
    code = main(["bench", "--sections", "neighbors", "--vocab-sizes", "300", "--dim", "8", "--window-rows", "40",
                 "-k", "5", "--out", str(out)])
    assert code == 0
    report = json.loads((out / "bench.json").read_text())
    records = report["records"]
    assert [r["variant"] for r in records] == ["ours, full table", "ours, one window's rows", "naive"]
    assert [r["rows"] for r in records] == [300, 40, 300]
    assert all(r["seconds"] > 0 and r["peak_rss_mib"] > 0 for r in records)
    table = (out / "bench.md").read_text()
    assert "### Neighbour table" in table and "| 300 | 8 | 5 | naive | 300 |" in table
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_bench_refuses_a_missing_dataset_and_reports_a_failing_worker(tmp_path, capsys):
    assert main(["bench", "--sections", "classifier", "--data", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err
    record = bench_plan.measure({"section": "neighbors", "device": "-1", "vocab": 10, "dim": 4, "k": 50,
                                 "rows": None, "variant": "ours, full table"})
    assert "error" in record and "k must be in [1, 9]" in record["error"]


def test_reproduction_estimate_from_hand_made_rates():
    """1 h of LM (10 epochs x 360,000 tokens at 1,000 tokens/s) + classifiers, Baseline counted twice."""
    records = [{"section": "lm", "size": "paper", "softmax": "adaptive", "softmax_of_preset": "adaptive",
                "tokens_per_sec": 1000.0, "epochs": 10, "epoch_tokens": 360000, "sec_per_step": 1.0, "vocab": 9}]
    for method, rate in (("baseline", 3600.0), ("advt", 1800.0), ("iadvt", 1800.0), ("spgd", 1200.0)):
        records.append({"section": "classifier", "size": "paper", "method": method, "tokens_per_sec": rate,
                        "epochs": 2, "epoch_tokens": 3600 * 900, "sec_per_step": 3600.0 / rate,
                        "neighbor_rows": 0, "gflops_achieved": 1.0})
    estimate = bench_tables.reproduction_estimate(records, "paper")
    # classifiers: 2 epochs x 3,240,000 tokens = 6,480,000 tokens: 0.5 h at 3,600/s (x2 rows), 1 h at 1,800/s,
    # 1.5 h at 1,200/s
    assert estimate["lm"] == 1.0
    assert estimate["classifiers"] == {"baseline": 1.0, "advt": 1.0, "iadvt": 1.0, "spgd": 1.5}
    assert estimate["one_seed"] == 5.5
    assert estimate["three_seeds"] == 1.0 + 3 * 4.5
    assert "Estimated reproduction time" in bench_tables.tables(records)
    assert bench_tables.reproduction_estimate(records[:-1], "paper") is None   # SPGD not measured
