"""Which measurements ``iadv bench`` runs, and running each in a fresh worker process."""

import json
import os
import shutil
import subprocess
import sys

from interpretable_adv import methods

SECTIONS = ("matmul", "classifier", "neighbors", "topk", "lm", "ranks")
RANKS = (1, 2)


def mpiexec():
    """The ``mpiexec`` beside this Python (the ``mpi`` extra), else on the PATH, else None."""
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")


def measure(spec, timeout=None):
    """Run ``spec`` in a fresh worker process (``ranks`` > 1: under mpiexec); returns ``spec`` with the result."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "interpretable_adv.benchmarking.workers", json.dumps(spec)]
    if spec.get("ranks", 1) > 1:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // spec["ranks"])))
        command = [mpiexec(), "--oversubscribe", "-n", str(spec["ranks"])] + command
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
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
    if "ranks" in sections and device in ("-1", "@numpy"):
        for ranks in RANKS:                # strong scaling: the small preset's global batch split over the ranks
            spec = {"section": "ranks", "device": device, "data": args.data, "size": "small",
                    "method": methods.names(adversarial=False)[0], "ranks": ranks, "steps": args.steps}
            if ranks > 1 and mpiexec() is None:
                spec["skipped"] = "needs MPI (pip install -e .[mpi])"
            specs.append(spec)
    return specs

