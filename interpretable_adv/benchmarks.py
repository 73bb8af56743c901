"""iadv bench: speed and memory of every costly stage, in one run, as tables and JSON.

Sections (``--sections``, all by default):

``matmul``      this machine's float32 matrix-product rate: a large square product (the
                hardware's practical peak) and the LSTM's own shapes at each size;
``classifier``  update-step throughput of baseline, AdvT, iAdvT and SPGD at each size (real
                IMDB batches as in training), peak memory, cost relative to baseline, and the
                achieved FLOP rate of the step (LSTM matrix products, forward and backward);
``neighbors``   the neighbour table at V in {10k, 30k, 87k}, D = 256, K = 15: the full table,
                the rows one refresh window needs (lazy mode) and the naive version (the
                whole V x V similarity matrix, then a sort per row) where it fits in memory;
``topk``        top-k selection: the neighbour-row selection against a full row sort, the SPGD
                sparsification mask against a full sort, and on a GPU the CUDA kernel against
                CuPy's sort;
``lm``          language-model throughput with adaptive and with full softmax over V = 87k.

Every measurement runs in a fresh worker process, so its peak memory (the
worker's peak RSS above what it held before the measurement; GPU: the CuPy
memory pool's bytes) is its own. Timings include one warm-up call that is not
timed. Benchmarks are not tests: nothing here asserts a speed.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_text
from interpretable_adv.presets.schema import device_flag, flag_type

SECTIONS = ("matmul", "classifier", "neighbors", "topk", "lm")
METHODS = ("baseline", "advt", "iadvt", "spgd")


# ----------------------------------------------------------------------------- worker side

def _xp_for(device):
    """NumPy for -1 / ``@numpy``; CuPy on GPU N for N / ``@cupy:N`` (without going through Chainer)."""
    spec = str(device)
    if spec in ("-1", "@numpy"):
        return np
    import cupy
    cupy.cuda.Device(int(spec.split(":")[-1])).use()
    return cupy


def _sync(xp):
    if xp is not np:
        xp.cuda.Device().synchronize()


def _rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _timed(xp, fn, repeat=1):
    """Mean seconds of ``fn()`` over ``repeat`` calls after one warm-up call."""
    fn()
    _sync(xp)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    _sync(xp)
    return (time.perf_counter() - start) / repeat


def _matmul_rate(xp, m, k, n, repeat):
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((m, k), dtype=np.float32))
    b = xp.asarray(rng.standard_normal((k, n), dtype=np.float32))
    seconds = _timed(xp, lambda: a @ b, repeat)
    return {"shape": "%dx%dx%d" % (m, k, n), "seconds": seconds, "gflops": 2.0 * m * k * n / seconds / 1e9}


def lstm_flops(tokens, reviews, embed_dim, hidden_dim, fc_dim=30, passes=1):
    """Matrix-product FLOPs of ``passes`` forward+backward passes of the classifier.

    Per token the LSTM multiplies the input (D) and the hidden state (H) by the
    four gate blocks: ``2 (D + H) 4H`` forward; backward computes gradients for
    both operands, twice that. The head adds ``2 H fc + 2 fc 2`` per review.
    """
    lstm = 2.0 * tokens * (embed_dim + hidden_dim) * 4 * hidden_dim
    head = reviews * 2.0 * (hidden_dim * fc_dim + fc_dim * 2)
    forward = lstm + head
    return 3.0 * forward * passes


def work_matmul(spec):
    xp = _xp_for(spec["device"])
    from interpretable_adv.presets import resolve
    big = 8192 if xp is not np else 2048
    results = [dict(_matmul_rate(xp, big, big, big, 3), role="square (peak)")]
    for size in spec["sizes"]:
        cfg = resolve(size, "train", {})
        b, d, h = cfg["batchsize"], cfg["embed_dim"], cfg["hidden_dim"]
        results.append(dict(_matmul_rate(xp, b * 100, d, 4 * h, 10),
                            role="%s input projection (B*100 x D x 4H)" % size))
        results.append(dict(_matmul_rate(xp, b, h, 4 * h, 200), role="%s recurrent step (B x H x 4H)" % size))
    return {"rates": results}


def _classifier_updater(data, size, method, device):
    import chainer

    from interpretable_adv.iterators import BucketIterator, ReviewDataset
    from interpretable_adv.neighbors import NeighborTable
    from interpretable_adv.nets import ClassifierLoss
    from interpretable_adv.presets import resolve
    from interpretable_adv.training.classifier import build_classifier, make_updater
    from interpretable_adv.training.common import get_device

    config = resolve(size, "train", {"data": data.directory, "method": method, "device": device})
    chainer.global_config.train = True
    np.random.seed(0)
    dev = get_device(device)
    model = build_classifier(config, len(data.vocab))
    model.to_device(dev)
    loss = ClassifierLoss(model)
    optimizer = chainer.optimizers.Adam(alpha=config["lr"])
    optimizer.setup(loss)
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))
    train = ReviewDataset(data.split("train"), config["max_length"])
    iterator = BucketIterator(train, config["batchsize"], bucket_batches=config["bucket_batches"], seed=0)
    neighbors = None
    if method in ("iadvt", "spgd"):
        neighbors = NeighborTable(config["n_neighbors"], config["neighbor_mode"])
        neighbors.refresh(model.embed.W.array)
    updater = make_updater(config, iterator, optimizer, dev, neighbors)
    reporter = chainer.Reporter()
    reporter.add_observer("main", loss)
    return config, updater, iterator, train, neighbors, reporter


def work_classifier(spec):
    """Update steps starting at a neighbour refresh, as in training: with ``steps`` equal to the
    refresh interval (50, the default) the timing covers one whole refresh window, the refresh
    included, so neighbour rows are amortised exactly as a training run amortises them."""
    from interpretable_adv.data import PreparedData

    data = PreparedData(spec["data"])
    config, updater, iterator, train, neighbors, reporter = _classifier_updater(
        data, spec["size"], spec["method"], spec["device"])
    xp = updater.device.xp
    embed = updater.get_optimizer("main").target.predictor.embed
    with reporter.scope({}):
        for _ in range(1 if xp is np else 3):             # warm-up, not timed (GPU: kernel compilation)
            updater.update()
        _sync(xp)
        rows_before = neighbors.rows_computed if neighbors else 0
        rss_before, tokens, reviews = _rss_mib(), 0, 0
        start = time.perf_counter()
        if neighbors:
            neighbors.refresh(embed.W.array)
        for _ in range(spec["steps"]):
            batch = iterator._batches[iterator.current_position]
            tokens += int(train.lengths[batch].sum())
            reviews += len(batch)
            updater.update()
        _sync(xp)
        seconds = time.perf_counter() - start
    passes = 1 if spec["method"] == "baseline" else 2
    flops = lstm_flops(tokens, reviews, config["embed_dim"], config["hidden_dim"], config["fc_dim"], passes)
    return {"tokens": tokens, "seconds": seconds, "tokens_per_sec": tokens / seconds,
            "sec_per_step": seconds / spec["steps"], "gflops_achieved": flops / seconds / 1e9,
            "neighbor_rows": (neighbors.rows_computed - rows_before) if neighbors else 0,
            "rss_before_mib": rss_before, "batchsize": config["batchsize"]}


def work_neighbors(spec):
    """One neighbour computation on random unit embeddings (cost does not depend on the values)."""
    from interpretable_adv.adversarial import normalized_rows, top_k_cosine

    xp = _xp_for(spec["device"])
    rng = np.random.default_rng(0)
    vocab, dim, k = spec["vocab"], spec["dim"], spec["k"]
    unit = xp.asarray(normalized_rows(rng.standard_normal((vocab, dim)).astype(np.float32)))
    rows = xp.arange(vocab) if spec["rows"] is None else xp.asarray(rng.choice(vocab, spec["rows"], replace=False))
    if spec["variant"] == "naive":
        def run():
            sims = unit[rows] @ unit.T                          # the whole similarity matrix at once
            sims[xp.arange(len(rows)), rows] = -xp.inf
            return xp.argsort(-sims, axis=1, kind="stable")[:, :k]
    else:
        def run():
            return top_k_cosine(unit, rows, k)
    if xp is not np:   # compile the CuPy kernels outside the timing
        top_k_cosine(unit[:128], xp.arange(4), k)
        (unit[:4] @ unit[:128].T).argsort(axis=1)
    rss_before = _rss_mib()
    _sync(xp)
    start = time.perf_counter()
    run()
    _sync(xp)
    return {"seconds": time.perf_counter() - start, "rss_before_mib": rss_before, "rows": int(len(rows))}


def work_topk(spec):
    from interpretable_adv import adversarial as adv

    xp = _xp_for(spec["device"])
    rng = np.random.default_rng(0)
    out = []
    # Neighbour rows: 64 query rows x 87k similarities, top 15.
    sims = xp.asarray(rng.standard_normal((64, 87040)).astype(np.float32))
    out.append({"what": "neighbour rows 64 x 87,040, k 15", "variant": "grouped exact top-k (ours)",
                "seconds": _timed(xp, lambda: adv.top_k_rows(sims, 15), 5)})
    out.append({"what": "neighbour rows 64 x 87,040, k 15", "variant": "full stable sort of each row",
                "seconds": _timed(xp, lambda: xp.argsort(-sims, axis=1, kind="stable")[:, :15], 2)})
    # SPGD mask: B reviews of T positions, keep floor(0.25 L).
    for batch, steps in ((32, 100), (32, 400), (32, 2500)):
        norms = xp.asarray(rng.random((batch, steps)).astype(np.float32))
        lengths = xp.asarray(rng.integers(steps // 2, steps + 1, batch).astype(np.int32))
        what = "SPGD mask B %d x T %d, sigma 0.75" % (batch, steps)
        if xp is np:
            out.append({"what": what, "variant": "NumPy reference (stable argsort ranks)",
                        "seconds": _timed(xp, lambda: adv.spgd_sparsify_mask_reference(norms, lengths, 0.75), 20)})
            out.append({"what": what, "variant": "np.sort of each review (the sort alone)",
                        "seconds": _timed(xp, lambda: np.sort(norms, axis=1), 20)})
            out.append({"what": what, "variant": "np.argpartition selection (ties unordered)",
                        "seconds": _timed(xp, lambda: np.argpartition(-norms, steps // 4, axis=1), 20)})
        else:
            from interpretable_adv.kernels import topk_mask_gpu
            keep = adv.keep_count(lengths, 0.75)

            def by_sort():
                keyed = xp.where(adv.valid_mask(lengths, steps, xp), norms, -xp.inf)
                order = xp.argsort(-keyed, axis=1)
                ranks = xp.empty_like(order)
                xp.put_along_axis(ranks, order, xp.broadcast_to(xp.arange(steps), (batch, steps)), axis=1)
                return ranks < keep[:, None]
            out.append({"what": what, "variant": "CUDA kernel (ours)",
                        "seconds": _timed(xp, lambda: topk_mask_gpu(norms, lengths, keep), 50)})
            out.append({"what": what, "variant": "CuPy argsort + ranks",
                        "seconds": _timed(xp, by_sort, 50)})
    return {"results": out}


def work_lm(spec):
    import chainer

    from interpretable_adv.data import PreparedData
    from interpretable_adv.iterators import StreamIterator
    from interpretable_adv.presets import resolve
    from interpretable_adv.training.common import get_device
    from interpretable_adv.training.lm import TBPTTUpdater, build_language_model, training_tokens

    data = PreparedData(spec["data"])
    config = resolve(spec["size"], "pretrain", {"data": data.directory, "softmax": spec["softmax"]})
    np.random.seed(0)
    dev = get_device(spec["device"])
    model = build_language_model(config, len(data.vocab))
    model.to_device(dev)
    optimizer = chainer.optimizers.Adam(alpha=config["lr"])
    optimizer.setup(model)
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))
    tokens = training_tokens(data, 1_000_000, 0)
    updater = TBPTTUpdater(StreamIterator(tokens, config["batchsize"], config["bptt_len"]), optimizer, dev)
    reporter = chainer.Reporter()
    reporter.add_observer("main", model)
    per_step = config["batchsize"] * config["bptt_len"]
    with reporter.scope({}):
        for _ in range(1 if dev.xp is np else 3):
            updater.update()
        _sync(dev.xp)
        rss_before = _rss_mib()
        start = time.perf_counter()
        for _ in range(spec["steps"]):
            updater.update()
        _sync(dev.xp)
        seconds = time.perf_counter() - start
    return {"tokens": per_step * spec["steps"], "seconds": seconds,
            "tokens_per_sec": per_step * spec["steps"] / seconds, "sec_per_step": seconds / spec["steps"],
            "rss_before_mib": rss_before, "vocab": len(data.vocab)}


WORKERS = {"matmul": work_matmul, "classifier": work_classifier, "neighbors": work_neighbors,
           "topk": work_topk, "lm": work_lm}


def run_worker(spec):
    """Run one measurement in this process and add its peak memory."""
    result = WORKERS[spec["section"]](spec)
    if str(spec.get("device", "-1")) not in ("-1", "@numpy"):
        import cupy
        result["gpu_pool_mib"] = cupy.get_default_memory_pool().total_bytes() / 2 ** 20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result["peak_rss_mib"] = peak
    if "rss_before_mib" in result:
        result["peak_extra_mib"] = max(0.0, peak - result["rss_before_mib"])
    return result


# ----------------------------------------------------------------------------- driver side

def measure(spec, timeout=None):
    """Run ``spec`` in a fresh worker process; returns ``spec`` updated with the result or the error."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "interpretable_adv.benchmarks", json.dumps(spec)],
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


def _fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return "{:,.{d}f}".format(value, d=digits)
    return "{:,}".format(value)


def tables(records):
    """Markdown tables, one per section, from the measured records."""
    out = []
    rates = [r for rec in records if rec["section"] == "matmul" and "rates" in rec for r in rec["rates"]]
    peak = max((r["gflops"] for r in rates), default=None)
    if rates:
        out += ["### Matrix-product rate (float32)", "", "| product | shape m x k x n | GFLOP/s |", "|---|---|---|"]
        out += ["| %s | %s | %s |" % (r["role"], r["shape"], _fmt(r["gflops"])) for r in rates]
        out.append("")
    clf = [r for r in records if r["section"] == "classifier"]
    if clf:
        out += ["### Classifier update step", "",
                "| size | method | tokens/s | s/step | x baseline | x AdvT | new neighbour rows | GFLOP/s achieved "
                "| of peak | peak extra MiB | peak RSS MiB (GPU: pool) |", "|---" * 11 + "|"]
        for r in clf:
            if "error" in r:
                out.append("| %s | %s | error: %s |||||||||" % (r["size"], r["method"], r["error"]))
                continue
            same = {c["method"]: c for c in clf if c["size"] == r["size"] and "error" not in c}
            base, advt = same.get("baseline"), same.get("advt")
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["size"], r["method"], _fmt(r["tokens_per_sec"], 0), _fmt(r["sec_per_step"], 3),
                _fmt(r["sec_per_step"] / base["sec_per_step"], 2) if base else "-",
                _fmt(r["sec_per_step"] / advt["sec_per_step"], 2) if advt else "-",
                _fmt(r["neighbor_rows"]), _fmt(r["gflops_achieved"]),
                "%.0f%%" % (100 * r["gflops_achieved"] / peak) if peak else "-",
                _fmt(r.get("peak_extra_mib"), 0), _fmt(r.get("gpu_pool_mib", r.get("peak_rss_mib")), 0)))
        out.append("")
    nb = [r for r in records if r["section"] == "neighbors"]
    if nb:
        out += ["### Neighbour table (cosine top-K)", "",
                "| V | D | K | variant | rows | seconds | ms/row | peak extra MiB (GPU: pool) |",
                "|---|---|---|---|---|---|---|---|"]
        for r in nb:
            if "skipped" in r or "error" in r:
                out.append("| %s | | | %s | | %s | | |"
                           % (_fmt(r["vocab"]), r["variant"], r.get("skipped") or r["error"]))
                continue
            out.append("| %s | %d | %d | %s | %s | %s | %s | %s |" % (
                _fmt(r["vocab"]), r["dim"], r["k"], r["variant"], _fmt(r["rows"]), _fmt(r["seconds"], 2),
                _fmt(1000 * r["seconds"] / r["rows"], 3), _fmt(r.get("gpu_pool_mib", r.get("peak_extra_mib")), 0)))
        out.append("")
    topk = [t for rec in records if rec["section"] == "topk" and "results" in rec for t in rec["results"]]
    if topk:
        out += ["### Top-k selection", "", "| input | variant | ms |", "|---|---|---|"]
        out += ["| %s | %s | %s |" % (t["what"], t["variant"], _fmt(1000 * t["seconds"], 3)) for t in topk]
        out.append("")
    lm = [r for r in records if r["section"] == "lm"]
    if lm:
        out += ["### Language model (V = %s)" % _fmt(next((r["vocab"] for r in lm if "vocab" in r), 0)), "",
                "| size | softmax | tokens/s | s/step | adaptive speed-up | peak extra MiB (GPU: pool) |",
                "|---|---|---|---|---|---|"]
        for r in lm:
            if "error" in r:
                out.append("| %s | %s | error: %s | | | |" % (r["size"], r["softmax"], r["error"]))
                continue
            full = next((f for f in lm if f["size"] == r["size"] and f["softmax"] == "full" and "error" not in f), None)
            speedup = full["sec_per_step"] / r["sec_per_step"] if full and r["softmax"] == "adaptive" else None
            out.append("| %s | %s | %s | %s | %s | %s |" % (r["size"], r["softmax"], _fmt(r["tokens_per_sec"], 0),
                                                         _fmt(r["sec_per_step"], 3), _fmt(speedup, 1),
                                                         _fmt(r.get("gpu_pool_mib", r.get("peak_extra_mib")), 0)))
        out.append("")
    return "\n".join(out)


def machine_info(device):
    info = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "device": str(device)}
    try:
        import chainer
        info["chainer"] = chainer.__version__
    except ImportError:
        pass
    if str(device) not in ("-1", "@numpy"):
        import cupy
        info["cupy"] = cupy.__version__
        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return info


def add_arguments(parser):
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--sizes", nargs="+", default=["small"], choices=("small", "paper", "tiny"),
                        help="presets to measure")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--data", default=os.path.join("runs", "data", "imdb"), help="prepared IMDB")
    parser.add_argument("--steps", type=flag_type("int", low=1), default=50,
                        help="timed update steps per classifier/LM measurement (50 = one neighbour refresh window)")
    parser.add_argument("--paper-steps", type=flag_type("int", low=1), default=1,
                        help="timed steps at the paper size on CPU (one update takes 7-18 s there)")
    parser.add_argument("--vocab-sizes", nargs="+", type=flag_type("int", low=2), default=[10000, 30000, 87008])
    parser.add_argument("--dim", type=flag_type("int", low=1), default=256,
                        help="embedding size for the neighbour section")
    parser.add_argument("-k", type=flag_type("int", low=1), default=15, help="neighbours per word (K)")
    parser.add_argument("--window-rows", type=flag_type("int", low=1), default=15000,
                        help="rows one 50-iteration window needs (the small iAdvT run averaged about 15k)")
    parser.add_argument("--naive-limit-gib", type=flag_type("float", low=0.0), default=12.0,
                        help="run the naive V x V version only when its matrix fits in this many GiB")
    parser.add_argument("--device", "-d", default="-1", type=device_flag,
                        help="-1 or @numpy = CPU, N or @cupy:N = GPU N")
    parser.add_argument("--timeout", type=flag_type("float", low=0.0, low_open=True), default=1800,
                        help="seconds allowed per measurement")
    parser.add_argument("--out", "-o", default=os.path.join("runs", "bench"),
                        help="writes bench.json and bench.md here")


def run(args):
    needs_data = set(args.sections) & {"classifier", "lm"}
    if needs_data and not os.path.isfile(os.path.join(args.data, "vocab.json")):
        raise UsageError("%s is not a prepared dataset (run `iadv prepare` first, or pass --data; "
                         "or leave out --sections classifier lm)" % args.data)
    if set(args.sections) & {"neighbors", "topk"} and args.k >= min(args.vocab_sizes):
        raise UsageError("-k %d must be below every --vocab-sizes value" % args.k)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError("--out %s: exists and is not a directory" % args.out)
    specs = plan(args)
    records = []
    os.makedirs(args.out, exist_ok=True)
    for i, spec in enumerate(specs, 1):
        label = " ".join("%s=%s" % (k, v) for k, v in spec.items() if k not in ("device", "data", "section"))
        print("[%d/%d] %s %s ..." % (i, len(specs), spec["section"], label), end=" ", flush=True)
        start = time.perf_counter()
        record = spec if "skipped" in spec else measure(spec, args.timeout)
        records.append(record)
        print("%s (%.0f s)" % ("skipped" if "skipped" in record else record.get("error", "ok"),
                               time.perf_counter() - start), flush=True)
    report = {"machine": machine_info(args.device), "args": vars(args), "records": records}
    text = tables(records)
    for name, content in (("bench.json", json.dumps(report, indent=1, default=str)), ("bench.md", text)):
        atomic_write_text(os.path.join(args.out, name), content)
    print()
    print(text)
    print("written to %s (bench.json, bench.md)" % args.out)
    return 0 if not any("error" in r for r in records) else 1


if __name__ == "__main__":
    print(json.dumps(run_worker(json.loads(sys.argv[1]))), flush=True)
