"""The report of ``iadv bench``: Markdown tables of every section, and the machine it ran on."""

import os
import platform

import numpy as np


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
    ranks = [r for r in records if r["section"] == "ranks"]
    if ranks:
        one = next((r for r in ranks if r["ranks"] == 1 and "tokens_per_sec" in r), None)
        out += ["### Data-parallel scaling (ChainerMN, naive communicator, CPU)", "",
                "The small preset's Baseline with its global batch split over the ranks (threads per rank = "
                "cores / ranks).", "",
                "| ranks | batch per rank | tokens/s (all ranks) | s/step | speed-up |", "|---|---|---|---|---|"]
        for r in ranks:
            if "tokens_per_sec" not in r:
                out.append("| %d | | %s | | |" % (r["ranks"], r.get("skipped") or r.get("error")))
                continue
            out.append("| %d | %d | %s | %s | %s |" % (
                r["ranks"], r["per_rank_batch"], _fmt(r["tokens_per_sec"], 0), _fmt(r["sec_per_step"], 3),
                _fmt(r["tokens_per_sec"] / one["tokens_per_sec"], 2) if one else "-"))
        out.append("")
    estimates = [reproduction_estimate(records, size) for size in dict.fromkeys(r.get("size") for r in records)]
    estimates = [e for e in estimates if e is not None]
    if estimates:
        out += ["### Estimated reproduction time (from the rates above)", "",
                "One seed of the pipeline at each size: the LM (its preset's epochs and softmax) and the five "
                "Table 3 classifiers (Baseline and Pretrained at the Baseline rate), epochs x tokens per epoch / "
                "measured tokens/s; evaluation, checkpoints and dev passes not included.", "",
                "| size | LM (h) | Baseline + Pretrained (h) | AdvT (h) | iAdvT (h) | SPGD (h) | one seed (h) "
                "| three seeds, one LM (h) |", "|---|---|---|---|---|---|---|---|"]
        for e in estimates:
            rows = e["classifiers"]
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                e["size"], _fmt(e["lm"], 2), _fmt(rows.get("baseline"), 2), _fmt(rows.get("advt"), 2),
                _fmt(rows.get("iadvt"), 2), _fmt(rows.get("spgd"), 2), _fmt(e["one_seed"], 2),
                _fmt(e["three_seeds"], 2)))
        out.append("")
    return "\n".join(out)


def reproduction_estimate(records, size):
    """Hours of one seed at ``size`` from measured rates, or None when the LM or a classifier row is missing.

    ``lm``: the LM's epochs x training tokens / tokens/s with its preset's softmax; ``classifiers``: hours per
    method (``baseline`` counts twice: the Baseline and Pretrained rows); ``one_seed`` and ``three_seeds``
    (the LM trained once).
    """
    lm = next((r for r in records if r["section"] == "lm" and r.get("size") == size and "error" not in r
               and r["softmax"] == r.get("softmax_of_preset")), None)
    rates = {r["method"]: r for r in records
             if r["section"] == "classifier" and r.get("size") == size and "error" not in r and "epochs" in r}
    if lm is None or "epochs" not in lm or set(rates) != {"baseline", "advt", "iadvt", "spgd"}:
        return None
    hours = {m: r["epochs"] * r["epoch_tokens"] / r["tokens_per_sec"] / 3600 * (2 if m == "baseline" else 1)
             for m, r in rates.items()}
    lm_hours = lm["epochs"] * lm["epoch_tokens"] / lm["tokens_per_sec"] / 3600
    one = lm_hours + sum(hours.values())
    return {"size": size, "lm": lm_hours, "classifiers": hours, "one_seed": one,
            "three_seeds": lm_hours + 3 * sum(hours.values())}


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

