"""The report of ``iadv bench``: Markdown tables of every section, and the machine it ran on."""

import os
import platform

import numpy as np

from interpretable_adv import methods


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
                "| size | method | tokens/s | s/step | x %s | x %s | new neighbour rows | GFLOP/s achieved "
                "| of peak | peak extra MiB | peak RSS MiB (GPU: pool) |" % (methods.get(PLAIN).title,
                                                                          methods.get(FIRST_ADVERSARIAL).title),
                "|---" * 11 + "|"]
        for r in clf:
            if "error" in r:
                out.append("| %s | %s | error: %s |||||||||" % (r["size"], r["method"], r["error"]))
                continue
            same = {c["method"]: c for c in clf if c["size"] == r["size"] and "error" not in c}
            base, advt = same.get(PLAIN), same.get(FIRST_ADVERSARIAL)
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
        counts = _paper_rows_per_method()
        out += ["### Estimated reproduction time (from the rates above)", "",
                "One seed of the pipeline at each size: the LM (its preset's epochs and softmax) and the %d "
                "Table 3 classifiers (each at its method's rate; xN: N rows of one method), epochs x tokens per "
                "epoch / measured tokens/s; evaluation, checkpoints and dev passes not included."
                % sum(counts.values()), "",
                "| size | LM (h) | " + " | ".join("%s%s (h)" % (methods.get(m).title, " x%d" % n if n > 1 else "")
                                                  for m, n in counts.items())
                + " | one seed (h) | three seeds, one LM (h) |", "|---" * (len(counts) + 4) + "|"]
        for e in estimates:
            out.append("| %s | %s | %s | %s | %s |" % (
                e["size"], _fmt(e["lm"], 2), " | ".join(_fmt(e["classifiers"].get(m), 2) for m in counts),
                _fmt(e["one_seed"], 2), _fmt(e["three_seeds"], 2)))
        out.append("")
    return "\n".join(out)


# The classifier table's two reference columns: the method without perturbation and the first adversarial one.
PLAIN = methods.names(adversarial=False)[0]
FIRST_ADVERSARIAL = methods.names(adversarial=True)[0]


def _paper_rows_per_method():
    """``{method: number of Table 3 paper rows it trains}``, in registry order."""
    counts = {}
    for row in methods.rows(("paper",)):
        counts[row.method] = counts.get(row.method, 0) + 1
    return counts


def reproduction_estimate(records, size):
    """Hours of one seed at ``size`` from measured rates, or None when the LM or a classifier row is missing.

    ``lm``: the LM's epochs x training tokens / tokens/s with its preset's softmax; ``classifiers``: hours per
    method of Table 3's paper rows (a method counts once per row: Baseline and Pretrained share one);
    ``one_seed`` and ``three_seeds`` (the LM trained once).
    """
    lm = next((r for r in records if r["section"] == "lm" and r.get("size") == size and "error" not in r
               and r["softmax"] == r.get("softmax_of_preset")), None)
    rates = {r["method"]: r for r in records
             if r["section"] == "classifier" and r.get("size") == size and "error" not in r and "epochs" in r}
    counts = _paper_rows_per_method()
    if lm is None or "epochs" not in lm or not set(counts) <= set(rates):
        return None
    hours = {m: rates[m]["epochs"] * rates[m]["epoch_tokens"] / rates[m]["tokens_per_sec"] / 3600 * n
             for m, n in counts.items()}
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

