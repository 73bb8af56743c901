"""Which measurements ``iadv bench`` runs, and running each in a fresh worker process."""

import json
import os
import subprocess
import sys

SECTIONS = ("matmul", "classifier", "neighbors", "topk", "lm")


def measure(spec, timeout=None):
    """Run ``spec`` in a fresh worker process; returns ``spec`` updated with the result or the error."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "interpretable_adv.benchmarking.workers", json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return dict(spec, error="timed out after %s s" % timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return dict(spec, error="worker failed (exit %d): %s" % (proc.returncode, " | ".join(tail)))
    return dict(spec, **json.loads(lines[-1]))


def plan(args):
    """The list of measurements ``args`` asks for, in the order they run."""
    specs, device = [], str(args.device)
    sections = args.sections
    if "matmul" in sections:
        specs.append({"section": "matmul", "device": device, "sizes": args.sizes})
    if "topk" in sections:
        specs.append({"section": "topk", "device": device})
    if "neighbors" in sections:
        for vocab in args.vocab_sizes:
            for variant, rows in (("ours, full table", None), ("ours, one window's rows", args.window_rows),
                                  ("naive", None)):
                naive_bytes = 12.0 * vocab * vocab            # float32 similarities + int64 sort order
                if variant == "naive" and naive_bytes > args.naive_limit_gib * 2 ** 30:
                    specs.append({"section": "neighbors", "vocab": vocab, "variant": variant, "skipped":
                                  "needs %.0f GiB (V x V float32 + int64 order) > --naive-limit-gib %g"
                                  % (naive_bytes / 2 ** 30, args.naive_limit_gib)})
                    continue
                specs.append({"section": "neighbors", "device": device, "vocab": vocab, "dim": args.dim, "k": args.k,
                              "rows": rows if rows is None else min(rows, vocab),
                              "variant": "naive" if variant == "naive" else variant})
    for size in args.sizes:
        steps = args.steps if size != "paper" or device not in ("-1", "@numpy") else args.paper_steps
        if "classifier" in sections:
            for method in args.methods:
                specs.append({"section": "classifier", "device": device, "data": args.data, "size": size,
                              "method": method, "steps": steps})
        if "lm" in sections:
            for softmax in ("adaptive", "full"):
                specs.append({"section": "lm", "device": device, "data": args.data, "size": size,
                              "softmax": softmax, "steps": steps})
    return specs

