"""Our run beside upstream runs: ``comparison.md``, ``comparison.json`` and ``comparison.png``.

:func:`comparison_markdown` and :func:`comparison_figure` put runs side by side;
:func:`write_comparison` writes the three files atomically (nothing is written
when any input fails to parse).
"""

import json
import os

from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_text
from interpretable_adv.locking import OutputLock
from interpretable_adv.reports.plots import save_figure

def _fmt(value, fmt="%.2f"):
    return "-" if value is None else fmt % value


def summary_rows(run, tokens_per_epoch=None):
    """Headline figures of one run (dict), as in the comparison table."""
    best = run.best_dev()
    last = run.epochs[-1]
    tokens_per_sec = run.summary.get("tokens_per_sec")
    if tokens_per_sec is None and tokens_per_epoch and run.summary.get("wall_time_s"):
        tokens_per_sec = tokens_per_epoch * len(run.epochs) / run.summary["wall_time_s"]
    test_at_best = best.get("test") if best else None
    if run.kind == "ours":
        test_at_best = run.summary.get("test_accuracy")
    return {"epochs": len(run.epochs), "final dev accuracy": last.get("dev"),
            "best dev accuracy": best["dev"] if best else None, "best dev epoch": best["epoch"] if best else None,
            "test accuracy of the best-dev model": test_at_best,
            "last test accuracy": last.get("test") if run.kind == "upstream" else None,
            "wall time (h)": run.summary["wall_time_s"] / 3600.0 if run.summary.get("wall_time_s") else None,
            "tokens/s": tokens_per_sec, "neighbour refreshes": run.summary.get("neighbor_refreshes")}


SUMMARY_FORMATS = {"epochs": "%d", "best dev epoch": "%d", "wall time (h)": "%.3f", "tokens/s": "%.0f",
                   "neighbour refreshes": "%d"}


def comparison_markdown(ours, upstream, tokens_per_epoch=None):
    """``comparison.md``: the summary table (ours first, then each upstream run, then differences) and
    one table per run."""
    runs = [ours] + list(upstream)
    rows = [summary_rows(r, tokens_per_epoch) for r in runs]
    head = "| | " + " | ".join("%s (%s)" % (r.name, r.kind) for r in runs)
    if upstream:
        head += " | ours - %s" % upstream[0].name
    lines = ["# Our run beside upstream iAdvT", "", head + " |", "|---" * (len(runs) + 1 + bool(upstream)) + "|"]
    for key in rows[0]:
        fmt = SUMMARY_FORMATS.get(key, "%.2f")
        cells = [_fmt(row[key], fmt) for row in rows]
        if upstream:
            a, b = rows[0][key], rows[1][key]
            cells.append(_fmt(a - b, "%+.2f" if fmt == "%.2f" else "%+" + fmt[1:]) if a is not None and b is not None
                         and key != "best dev epoch" else "-")
        lines.append("| %s | %s |" % (key, " | ".join(cells)))
    lines += ["", "Accuracies in percent. Ours computes the test accuracy once, with the best-on-dev model; "
              "upstream evaluates the test set after every epoch, so its 'test accuracy of the best-dev model' is "
              "the test line of the epoch with the highest dev accuracy (earliest on ties). Upstream tokens/s: "
              "the train split's tokens (%s, whole reviews) x epochs / wall time (which includes evaluation)."
              % (("%d" % tokens_per_epoch) if tokens_per_epoch else "dataset not found: not computed"), ""]
    for run in runs:
        lines += ["## %s (%s: %s)" % (run.name, run.kind, run.source), ""]
        if run.meta:
            lines += [", ".join("%s %s" % (k, v) for k, v in run.meta.items() if v is not None), ""]
        lines += ["| epoch | dev accuracy | test accuracy | wall time (s) |", "|---|---|---|---|"]
        lines += ["| %d | %s | %s | %s |" % (e["epoch"], _fmt(e["dev"]), _fmt(e["test"]), _fmt(e["seconds"], "%.0f"))
                  for e in run.epochs]
        lines.append("")
    return "\n".join(lines)


def comparison_figure(ours, upstream):
    """Dev (solid) and test (dashed, markers) accuracy per epoch, and dev accuracy against wall time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for run in [ours] + list(upstream):
        epochs = [e["epoch"] for e in run.epochs]
        line, = by_epoch.plot(epochs, [e["dev"] for e in run.epochs], "-", label="%s dev" % run.name)
        tests = [(e["epoch"], e["test"]) for e in run.epochs if e["test"] is not None]
        if tests:
            by_epoch.plot(*zip(*tests), "--o", color=line.get_color(), markersize=3, label="%s test" % run.name)
        timed = [e for e in run.epochs if e.get("seconds") is not None]
        if timed:
            by_time.plot([e["seconds"] / 3600.0 for e in timed], [e["dev"] for e in timed], "-",
                         color=line.get_color(), label=run.name)
    from matplotlib.ticker import MaxNLocator
    by_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
    by_epoch.set_xlabel("epoch")
    by_epoch.set_ylabel("accuracy (%)")
    by_time.set_xlabel("wall time (h)")
    by_time.set_ylabel("dev accuracy (%)")
    by_epoch.legend(fontsize=8)
    by_time.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_comparison(ours, upstream, out_dir, tokens_per_epoch=None):
    """Write ``comparison.md``, ``comparison.png`` and ``comparison.json`` into ``out_dir`` (atomically)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError("--out %s: exists and is not a directory" % out_dir)
    text = comparison_markdown(ours, upstream, tokens_per_epoch)
    data = {r.name: {"kind": r.kind, "source": r.source, "meta": r.meta, "summary": r.summary,
                     "headline": summary_rows(r, tokens_per_epoch), "epochs": r.epochs}
            for r in [ours] + list(upstream)}
    figure = comparison_figure(ours, upstream)
    paths = [os.path.join(out_dir, name) for name in ("comparison.md", "comparison.json", "comparison.png")]
    with OutputLock(out_dir):
        atomic_write_text(paths[0], text)
        atomic_write_text(paths[1], json.dumps(data, indent=1))
        save_figure(figure, paths[2], dpi=120)
    return paths
