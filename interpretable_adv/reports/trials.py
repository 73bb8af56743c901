"""A study's report (``iadv tune``, ``iadv tune --report``): the trial table, the best values, Optuna's plots.

Written in the study directory from the storage alone, so any machine that
reaches the storage can rewrite it: ``trials.md`` (one row per trial: its
values, best dev accuracy, state, wall time, run directory), ``trials.json``
(the same, and the best trial), and Optuna's matplotlib plots
``optimization_history.png``, ``parallel_coordinate.png``,
``param_importances.png`` (fANOVA; needs two finished trials that differ)
and, when trials were pruned, ``intermediate_values.png`` (dev accuracy per
epoch). With ``seed`` among the searched keys, ``trials.md`` also gives each
setting's mean +- sd over its seeds. Dev only: test accuracy is not in a study.
"""

import os
import warnings

from interpretable_adv.files import atomic_write_json, atomic_write_text
from interpretable_adv.reports.plots import save_figure
from interpretable_adv.reports.significance import mean_sd

PLOTS = ("optimization_history", "parallel_coordinate", "param_importances", "intermediate_values")


def trial_rows(study):
    """One dict per trial, in trial order: number, state, values, dev (%), epochs reported, wall time, run dir."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        steps = sorted(trial.intermediate_values)
        rows.append({"number": trial.number, "state": trial.state.name.lower(), "params": dict(trial.params),
                     # a pruned trial's value is its last report (Optuna's): shown as such, not as a run's best
                     "dev": 100 * trial.value if trial.value is not None and trial.state.name == "COMPLETE" else None,
                     "last_dev": 100 * trial.intermediate_values[steps[-1]] if steps else None,
                     "epochs_reported": len(steps), "wall_time_s": trial.user_attrs.get("wall_time_s"),
                     "run_dir": trial.user_attrs.get("run_dir"),
                     "retry_of": trial.system_attrs.get("failed_trial"), "error": trial.user_attrs.get("error")})
    return rows


def best_trial(rows):
    """The complete trial with the highest dev accuracy (ties: the lowest number), or None."""
    complete = [r for r in rows if r["state"] == "complete" and r["dev"] is not None]
    return max(complete, key=lambda r: (r["dev"], -r["number"])) if complete else None


def over_seeds(rows, names):
    """With ``seed`` among the searched keys: ``[(values of the other keys, [(seed, dev)], mean, sd)]`` of the
    complete trials, best mean first (a setting is judged over seeds, not by its luckiest one)."""
    others = [n for n in names if n != "seed"]
    groups = {}
    for r in rows:
        if r["state"] == "complete" and r["dev"] is not None and "seed" in r["params"]:
            key = tuple(r["params"].get(n) for n in others)
            groups.setdefault(key, []).append((r["params"]["seed"], r["dev"]))
    found = []
    for key, runs in groups.items():
        mean, sd = mean_sd([dev for _, dev in runs])
        found.append((dict(zip(others, key)), sorted(runs), mean, sd))
    return sorted(found, key=lambda g: -g[2])


def _value(value):
    return "%.6g" % value if isinstance(value, float) else str(value)


def trials_markdown(name, rows, best, names):
    """The trial table of study ``name`` (``names``: the searched keys, in the space's order)."""
    lines = ["# Study %s: %d trials (dev accuracy only; the objective is the best dev accuracy of a run)" % (
        name, len(rows)), ""]
    states = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    lines += ["States: " + ", ".join("%s %d" % item for item in sorted(states.items())), ""]
    if best:
        lines += ["Best: trial %d, dev %.2f, %s." % (best["number"], best["dev"], ", ".join(
            "%s %s" % (k, _value(best["params"][k])) for k in names if k in best["params"])), ""]
    if "seed" in names:
        others = [n for n in names if n != "seed"]
        lines += ["Over seeds (complete trials; mean +- sd of the best dev accuracy):", "",
                  "| %s | seeds: dev | mean +- sd |" % " | ".join(others), "|---|" + "---|" * (len(others) + 1)]
        for values, runs, mean, sd in over_seeds(rows, names):
            lines.append("| %s | %s | %.2f +- %.2f |" % (" | ".join(_value(values[n]) for n in others),
                                                       ", ".join("%s: %.2f" % run for run in runs), mean, sd))
        lines.append("")
    lines += ["| trial | %s | dev | state | epochs | wall (s) | run |" % " | ".join(names),
              "|---|" + "---|" * (len(names) + 5)]
    for r in rows:
        dev = "%.2f" % r["dev"] if r["dev"] is not None else (
            "(%.2f at epoch %d)" % (r["last_dev"], r["epochs_reported"]) if r["last_dev"] is not None else "-")
        state = r["state"] + (" (retry of %d)" % r["retry_of"] if r["retry_of"] is not None else "")
        state += ": " + r["error"][:100] if r.get("error") else ""
        lines.append("| %d | %s | %s | %s | %d | %s | %s |" % (
            r["number"], " | ".join(_value(r["params"][k]) if k in r["params"] else "-" for k in names), dev, state,
            r["epochs_reported"], "-" if r["wall_time_s"] is None else "%.0f" % r["wall_time_s"], r["run_dir"] or "-"))
    return "\n".join(lines) + "\n"


def plot_study(study, directory, names):
    """Optuna's matplotlib plots of ``study`` into ``directory``; returns ``{plot: path or why it is absent}``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    pruned = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))
    made = {}
    for plot in PLOTS:
        path = os.path.join(directory, plot + ".png")
        why = None
        if not complete:
            why = "no complete trial"
        elif plot == "param_importances" and len(complete) < 2:
            why = "needs two complete trials"
        elif plot == "intermediate_values" and not pruned:
            why = "no trial was pruned"
        if why is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")   # Optuna marks its matplotlib plots experimental
                    kwargs = {"params": names} if plot in ("parallel_coordinate", "param_importances") else {}
                    if plot != "intermediate_values":
                        kwargs["target_name"] = "best dev accuracy (fraction)"
                    axes = getattr(optuna_plots, "plot_" + plot)(study, **kwargs)
                figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
                figure.set_size_inches(8, 4.5)
                figure.tight_layout()
                save_figure(figure, path, dpi=110)
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:   # e.g. importances of one distinct value
                why = " ".join(str(exc).split())[:200] or type(exc).__name__
            finally:
                plt.close("all")
        if why is not None:
            if os.path.exists(path):
                os.remove(path)   # a plot of an earlier state of the study would mislead
            made[plot] = "not drawn: " + why
        else:
            made[plot] = path
    return made


def write_study_report(study, directory, names):
    """trials.md, trials.json and the plots in ``directory``; returns ``(rows, best)``."""
    rows = trial_rows(study)
    best = best_trial(rows)
    os.makedirs(directory, exist_ok=True)
    atomic_write_text(os.path.join(directory, "trials.md"), trials_markdown(study.study_name, rows, best, names))
    plots = plot_study(study, directory, names)
    atomic_write_json(os.path.join(directory, "trials.json"),
                      {"study": study.study_name, "definition": study.user_attrs.get("definition"), "trials": rows,
                       "best": best, "plots": {k: v if v.startswith("not drawn") else os.path.basename(v)
                                               for k, v in plots.items()}})
    return rows, best
