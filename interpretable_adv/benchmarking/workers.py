"""One benchmark measurement, run in its own process (``python -m interpretable_adv.benchmarking.workers SPEC``).

Each ``work_*`` function times one section's stage and returns its figures as
a dictionary; :func:`run_worker` adds the process's peak memory.
"""

import json
import os
import resource
import sys
import time

import numpy as np

from interpretable_adv import methods


def _array_module(device):
    """NumPy or CuPy for ``--device`` (the same parsing and device selection as training)."""
    from interpretable_adv.runs import get_device

    return get_device(device).xp


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
    xp = _array_module(spec["device"])
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



def work_classifier(spec):
    """Update steps starting at a neighbour refresh, as in training: with ``steps`` equal to the
    refresh interval (50, the default) the timing covers one whole refresh window, the refresh
    included, so neighbour rows are amortised exactly as a training run amortises them.

    The trainer is the one ``iadv train`` builds (:func:`build_classifier_trainer`); its
    updater is stepped directly, so no extension runs and nothing is written.
    """
    import chainer

    from interpretable_adv.data import PreparedData
    from interpretable_adv.presets import resolve
    from interpretable_adv.runs import get_device
    from interpretable_adv.training.classifier import build_classifier_trainer

    data = PreparedData(spec["data"])
    config = resolve(spec["size"], "train", {"data": data.directory, "method": spec["method"],
                                             "device": spec["device"], "out": os.devnull})
    chainer.global_config.train = True
    np.random.seed(0)
    device = get_device(spec["device"])
    trainer, parts = build_classifier_trainer(dict(config, seed=0), data, device)
    updater, neighbors = trainer.updater, parts.neighbors
    if neighbors:
        neighbors.refresh(parts.model.embed.W.array)
    reporter = chainer.Reporter()
    reporter.add_observer("main", parts.model_loss)
    xp = device.xp
    with reporter.scope({}):
        for _ in range(1 if xp is np else 3):             # warm-up, not timed (GPU: kernel compilation)
            updater.update()
        _sync(xp)
        rows_before = neighbors.rows_computed if neighbors else 0
        tokens_before, reviews_before = updater.tokens_seen, updater.reviews_seen
        rss_before = _rss_mib()
        start = time.perf_counter()
        if neighbors:
            neighbors.refresh(parts.model.embed.W.array)
        for _ in range(spec["steps"]):
            updater.update()
        _sync(xp)
        seconds = time.perf_counter() - start
    tokens, reviews = updater.tokens_seen - tokens_before, updater.reviews_seen - reviews_before
    passes = 2 if methods.get(spec["method"]).adversarial else 1   # the adversarial pass
    flops = lstm_flops(tokens, reviews, config["embed_dim"], config["hidden_dim"], config["fc_dim"], passes)
    return {"tokens": tokens, "seconds": seconds, "tokens_per_sec": tokens / seconds,
            "sec_per_step": seconds / spec["steps"], "gflops_achieved": flops / seconds / 1e9,
            "neighbor_rows": (neighbors.rows_computed - rows_before) if neighbors else 0,
            "rss_before_mib": rss_before, "batchsize": config["batchsize"],
            "epoch_tokens": int(parts.train.n_tokens), "epochs": config["epoch"]}


def work_neighbors(spec):
    """One neighbour computation on random unit embeddings (cost does not depend on the values)."""
    from interpretable_adv.topk import normalized_rows, top_k_cosine

    xp = _array_module(spec["device"])
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
    from interpretable_adv.topk import top_k_rows

    xp = _array_module(spec["device"])
    rng = np.random.default_rng(0)
    out = []
    # Neighbour rows: 64 query rows x 87k similarities, top 15.
    sims = xp.asarray(rng.standard_normal((64, 87040)).astype(np.float32))
    out.append({"what": "neighbour rows 64 x 87,040, k 15", "variant": "grouped exact top-k (ours)",
                "seconds": _timed(xp, lambda: top_k_rows(sims, 15), 5)})
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
    """LM update steps on the trainer ``iadv pretrain`` builds (:func:`build_lm_trainer`), 1M training tokens."""
    import chainer

    from interpretable_adv.data import PreparedData
    from interpretable_adv.presets import resolve
    from interpretable_adv.runs import get_device
    from interpretable_adv.training.lm import build_lm_trainer, dev_tokens, training_tokens

    data = PreparedData(spec["data"])
    config = resolve(spec["size"], "pretrain", {"data": data.directory, "softmax": spec["softmax"],
                                                "device": spec["device"], "out": os.devnull})
    np.random.seed(0)
    dev = get_device(spec["device"])
    tokens = training_tokens(data, 1_000_000, 0)
    trainer, parts = build_lm_trainer(config, data, dev, tokens, dev_tokens(data, 1000, 0))
    updater = trainer.updater
    reporter = chainer.Reporter()
    reporter.add_observer("main", parts.model)
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
            "rss_before_mib": rss_before, "vocab": len(data.vocab), "softmax_of_preset": config["softmax"],
            "epoch_tokens": int(len(training_tokens(data, config.get("max_train_tokens"), config["seed"]))),
            "epochs": config["epoch"]}


def work_ranks(spec):
    """Data-parallel classifier steps on ``ranks`` processes: the preset's global batch split over them.

    Every rank runs the same number of updates; the tokens of all ranks are
    summed. Returns the figures on rank 0 and None on the others.
    """
    import chainer

    from interpretable_adv.data import PreparedData
    from interpretable_adv.distributed import Distribution
    from interpretable_adv.presets import resolve
    from interpretable_adv.runs import get_device
    from interpretable_adv.training.classifier import build_classifier_trainer

    data = PreparedData(spec["data"])
    config = resolve(spec["size"], "train", {"data": data.directory, "method": spec["method"], "out": os.devnull,
                                             "communicator": "naive" if spec["ranks"] > 1 else None})
    dist = Distribution.from_config(config)
    global_batch = config["batchsize"]
    config = dict(config, batchsize=global_batch // dist.size, seed=0)
    np.random.seed(0)
    trainer, parts = build_classifier_trainer(config, data, get_device(spec["device"]), dist)
    updater = trainer.updater
    reporter = chainer.Reporter()
    reporter.add_observer("main", parts.model_loss)
    with reporter.scope({}):
        updater.update()                                     # warm-up
        tokens_before = updater.tokens_seen
        dist.sum([0])                                        # all ranks start together
        start = time.perf_counter()
        for _ in range(spec["steps"]):
            updater.update()
        dist.sum([0])
        seconds = time.perf_counter() - start
    tokens = dist.sum([updater.tokens_seen - tokens_before])[0]
    if not dist.is_writer:
        return None
    return {"tokens": tokens, "seconds": seconds, "tokens_per_sec": tokens / seconds,
            "sec_per_step": seconds / spec["steps"], "per_rank_batch": config["batchsize"],
            "global_batch": global_batch}


WORKERS = {"matmul": work_matmul, "classifier": work_classifier, "neighbors": work_neighbors,
           "topk": work_topk, "lm": work_lm, "ranks": work_ranks}


def run_worker(spec):
    """Run one measurement in this process and add its peak memory."""
    result = WORKERS[spec["section"]](spec)
    if result is None:          # a rank other than 0 of a data-parallel measurement
        return None
    if str(spec.get("device", "-1")) not in ("-1", "@numpy"):
        import cupy
        result["gpu_pool_mib"] = cupy.get_default_memory_pool().total_bytes() / 2 ** 20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result["peak_rss_mib"] = peak
    if "rss_before_mib" in result:
        result["peak_extra_mib"] = max(0.0, peak - result["rss_before_mib"])
    return result



if __name__ == "__main__":
    figures = run_worker(json.loads(sys.argv[1]))
    if figures is not None:
        print(json.dumps(figures), flush=True)
