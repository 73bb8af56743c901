"""The epsilon sweep's report: dev accuracy per method and ``eps_scale``, the rule, the chosen scale.

``experiments/sweep_eps.sh`` runs a grid study of ``iadv tune`` over
``method`` x ``eps_scale`` (eps = paper eps x scale, so AdvT : iAdvT : SPGD
stays 5 : 15 : 25), one ``iadv train`` run per point in ``STUDY/trial-NNNN/``,
plus controls in ``STUDY/controls/`` (e.g. ``advt-eps0``). This module reads
the study's ``trials.json`` and the runs' ``results.json`` and writes
``sweep.md``, ``sweep.json`` and ``sweep.png`` in the study directory.

Rule (dev only; test accuracy is shown but never used): among the scales at
which no method's model is degenerate, take the one with the highest mean best
dev accuracy over the three methods, ties going to the larger scale (the one
closest to the paper's eps); each method's own best scale is reported beside
it, so a reason to break the paper's ratio would be visible.
"""

import os
import re

import numpy as np

from interpretable_adv import methods
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_json, atomic_write_text, read_json
from interpretable_adv.locking import OutputLock
from interpretable_adv.reports.plots import save_figure
from interpretable_adv.reports.table3 import is_degenerate

# The run names of a sweep, METHOD-xSCALE, for any adversarial method: a sweep holds one family, the methods that
# follow the label gradient (AdvT : iAdvT : SPGD = 5 : 15 : 25 in the paper) or the VAT family (SWEEP_FAMILY=virtual).
RUN_NAME = re.compile(r"(%s)-x([0-9.]+)$" % "|".join(methods.names(adversarial=True)))


def _entry(run_dir):
    """The figures of one finished run of a sweep (best dev, test shown only, the perturbation's size)."""
    result = read_json(os.path.join(run_dir, "results.json"), "run results")
    adversarial = result.get("adversarial") or {}
    return {"dev": 100 * result["dev_accuracy_best"], "test": 100 * result["test_accuracy"],
            "majority_share": result.get("test_majority_share"),
            "degenerate": is_degenerate(result.get("test_majority_share")),
            "eps": adversarial.get("eps"), "token_ratio": adversarial.get("mean_token_perturbation_ratio"),
            "perturbed_share": adversarial.get("mean_perturbed_share"),
            "loss": adversarial.get("mean_loss"), "loss_adv": adversarial.get("mean_loss_adv"),
            "run": run_dir}


STUDY_TRIALS = "trials.json"   # what `iadv tune` writes in a study directory (reports/trials.py)


def read_sweep(sweep_dir):
    """``(grid, controls)``: grid[method][scale] and controls[name] hold each run's figures.

    ``sweep_dir`` is the directory of an ``iadv tune`` grid study over
    ``eps_scale`` (and ``method``, or one fixed ``--method``), whose complete
    trials form the grid and whose ``controls/NAME`` runs the controls; or a
    directory of ``METHOD-xSCALE`` runs and control runs (sweeps made before
    ``iadv tune``).
    """
    grid, controls = {}, {}
    study = os.path.join(sweep_dir, STUDY_TRIALS)
    if os.path.isfile(study):
        trials = read_json(study, "study trials")
        fixed = (trials.get("definition") or {}).get("fixed", {})
        for trial in trials["trials"]:
            params = trial["params"]
            if trial["state"] != "complete" or "eps_scale" not in params:
                continue
            method = params.get("method", fixed.get("method"))
            grid.setdefault(method, {})[float(params["eps_scale"])] = _entry(os.path.join(sweep_dir, trial["run_dir"]))
        sweep_dir = os.path.join(sweep_dir, "controls")
    for name in sorted(os.listdir(sweep_dir)) if os.path.isdir(sweep_dir) else ():
        if not os.path.isfile(os.path.join(sweep_dir, name, "results.json")):
            continue
        match = RUN_NAME.match(name)
        if match and not os.path.isfile(study):
            grid.setdefault(match.group(1), {})[float(match.group(2))] = _entry(os.path.join(sweep_dir, name))
        elif not match:
            controls[name] = _entry(os.path.join(sweep_dir, name))
    return grid, controls


def _swept(grid):
    """The methods of a sweep's grid, in the registry's order."""
    return [m for m in methods.names(adversarial=True) if m in grid]


def choose_scale(grid):
    """The rule of the module docstring: (chosen scale or None, per-scale mean dev, per-method best scale)."""
    scales = sorted(set.intersection(*(set(grid[m]) for m in grid))) if grid else []
    mean_dev = {}
    for scale in scales:
        cells = [grid[m][scale] for m in grid]
        if not any(c["degenerate"] for c in cells):
            mean_dev[scale] = float(np.mean([c["dev"] for c in cells]))
    # Ties (equal mean dev, e.g. on a small dev set) go to the larger scale: the one closest to the paper's eps.
    chosen = max(mean_dev, key=lambda s: (round(mean_dev[s], 6), s)) if mean_dev else None
    best_per_method = {m: max(grid[m], key=lambda s: (round(grid[m][s]["dev"], 6), s)) for m in grid}
    return chosen, mean_dev, best_per_method


def sweep_markdown(grid, controls, chosen, mean_dev, best_per_method, reference=None):
    scales = sorted({s for m in grid for s in grid[m]})
    lines = ["# Epsilon sweep (dev accuracy; test shown, never used to choose)", "",
             "eps = paper eps x scale (%s, so the ratio of the paper eps is kept). " % ", ".join(
                 "%s %g" % (methods.get(m).title, methods.get(m).paper_eps) for m in _swept(grid)) +
             "`ratio` = mean over perturbed tokens of ||d_t|| / ||E[w_t]|| during training. Rule: among the "
             "scales where no method is degenerate (> 90% one class), the highest mean best-dev accuracy over "
             "the swept methods (ties: the larger scale, closest to the paper).", ""]
    if reference:
        lines += ["Reference (same settings, no adversarial term): " + ", ".join(
            "%s dev %.2f / test %.2f" % (k, v["dev"], v["test"]) for k, v in reference.items()), ""]
    lines += ["| scale | " + " | ".join("%s eps / dev / test / ratio" % methods.get(m).title for m in _swept(grid))
              + " | mean dev |",
              "|---|" + "---|" * (len(grid) + 1)]
    for scale in scales:
        cells = []
        for method in _swept(grid):
            c = grid[method].get(scale)
            if c is None:
                cells.append("-")
                continue
            mark = " DEGENERATE" if c["degenerate"] else ""
            mark += " (best)" if best_per_method.get(method) == scale else ""
            ratio = "-" if c["token_ratio"] is None else "%.3f" % c["token_ratio"]
            eps = methods.get(method).paper_eps * scale
            cells.append("%.3g / %.2f / %.2f / %s%s" % (eps, c["dev"], c["test"], ratio, mark))
        mean = "%.2f" % mean_dev[scale] if scale in mean_dev else "excluded"
        lines.append("| %s%s | %s | %s |" % (scale, " **chosen**" if scale == chosen else "", " | ".join(cells), mean))
    if controls:
        lines += ["", "Controls:", "", "| run | eps | dev | test | majority | loss | adversarial loss |",
                  "|---|---|---|---|---|---|---|"]
        for name, c in controls.items():
            lines.append("| %s | %s | %.2f | %.2f | %s | %s | %s |" % (
                name, c["eps"], c["dev"], c["test"],
                "-" if c["majority_share"] is None else "%.1f%%" % (100 * c["majority_share"]),
                "-" if c["loss"] is None else "%.4f" % c["loss"], "-" if c["loss_adv"] is None else "%.4f" % c["loss_adv"]))
    lines += ["", "Chosen scale: %s." % chosen if chosen is not None else "", ""]
    return "\n".join(lines)


def plot_sweep(grid, chosen, path, reference=None, title=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.set_xscale("log")
    for method in _swept(grid):
        scales = sorted(grid[method])
        ax.plot(scales, [grid[method][s]["dev"] for s in scales], marker="o", label="%s (paper eps %g)" % (
            methods.get(method).title, methods.get(method).paper_eps))
    styles = iter([":", "-.", (0, (1, 3)), (0, (5, 5))])
    for name, value in (reference or {}).items():   # in the legend, not as text: references often lie close
        ax.axhline(value["dev"], linestyle=next(styles, ":"), color="grey",
                   label="%s (dev %.2f)" % (name, value["dev"]))
    if chosen is not None:
        ax.axvline(chosen, color="black", linewidth=0.8, linestyle="--", label="chosen scale %g" % chosen)
    ax.set_xlabel("eps_scale (eps = paper eps x scale)")
    ax.set_ylabel("best dev accuracy (%)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or "epsilon sweep (best dev accuracy per run)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def write_sweep_report(sweep_dir, reference_runs=()):
    """Write sweep.md / sweep.json / sweep.png in ``sweep_dir``; returns the chosen scale.

    ``reference_runs``: ``{label: run directory}`` of non-adversarial runs shown as horizontal lines.
    """
    grid, controls = read_sweep(sweep_dir)
    if not grid:
        raise UsageError("%s: no finished {%s}-xSCALE runs" % (sweep_dir, ",".join(methods.names(adversarial=True))))
    reference = {}
    for label, run in dict(reference_runs).items():
        path = os.path.join(run, "results.json")
        if os.path.isfile(path):
            result = read_json(path, "run results")
            reference[label] = {"dev": 100 * result["dev_accuracy_best"], "test": 100 * result["test_accuracy"]}
    shown = {os.path.realpath(run) for run in dict(reference_runs).values()}
    controls = {name: c for name, c in controls.items() if os.path.realpath(c["run"]) not in shown}   # listed above
    chosen, mean_dev, best = choose_scale(grid)
    with OutputLock(sweep_dir, "sweep directory"):
        atomic_write_text(os.path.join(sweep_dir, "sweep.md"), sweep_markdown(grid, controls, chosen, mean_dev, best,
                                                                              reference))
        plot_sweep(grid, chosen, os.path.join(sweep_dir, "sweep.png"), reference,
                   title="epsilon sweep, best dev accuracy per run (%s)" % os.path.basename(os.path.abspath(sweep_dir)))
        atomic_write_json(os.path.join(sweep_dir, "sweep.json"),
                          {"grid": {m: {str(s): c for s, c in v.items()} for m, v in grid.items()},
                           "controls": controls, "reference": reference,
                           "mean_dev": {str(s): v for s, v in mean_dev.items()},
                           "best_scale_per_method": best, "chosen_scale": chosen})
    return chosen


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Report of an epsilon sweep (see experiments/sweep_eps.sh).")
    parser.add_argument("sweep_dir")
    parser.add_argument("--reference", nargs=2, action="append", default=[], metavar=("LABEL", "RUN"),
                        help="a non-adversarial run to draw as a reference line (repeatable)")
    args = parser.parse_args(argv)
    chosen = write_sweep_report(args.sweep_dir, dict(args.reference))
    print(open(os.path.join(args.sweep_dir, "sweep.md")).read())
    print("chosen eps_scale:", chosen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
