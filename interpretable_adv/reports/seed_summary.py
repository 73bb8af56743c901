"""``iadv summarize``: Tables 3, 1 and 4 over seeds (mean +- sd, every seed's value, degenerate models flagged),
with the paired significance of Tables 3 and 4.

Reads a reproduction directory laid out by ``experiments/reproduce_small.sh``::

    RUNS/lm/                       the language model (trained once)
    RUNS/seed0/{baseline,pretrained,advt,iadvt,spgd,...}/results.json, test_predictions.npz
    RUNS/seed0/eval/results.json   Table 1 of that seed's classifiers (``iadv evaluate``)
    RUNS/seed0/attack/results.json Table 4 of that seed's classifiers (``iadv attack``)
    RUNS/seed1/...

and writes ``RUNS/eval/table3.md``, ``significance.md``, ``table1.md``,
``table4.md``, ``summary.json``, ``table3.png`` and ``table4.png``. ``sd`` is
the sample standard deviation over seeds (ddof 1; 0 for a single seed). The
paper kept the best of 5 runs; we report all.
"""

import os
import sys

from interpretable_adv import methods
from interpretable_adv.data import PreparedData
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_json, atomic_write_text, read_json, remove_stale_temporaries
from interpretable_adv.locking import OutputLock
from interpretable_adv.reports.plots import save_figure
from interpretable_adv.reports.table1 import HEADLINE, TITLE, VARIANTS, table1_markdown
from interpretable_adv.reports.table3 import (
    DEGENERATE_SHARE,
    is_paper_imdb,
    paper_cell,
    reference_vocabulary,
    table3,
    table3_rows,
)
from interpretable_adv.reports.predictions import test_predictions
from interpretable_adv.reports.significance import (
    ALPHA,
    SIGNIFICANCE_NOTE,
    mean_sd,
    significance,
    significance_markdown,
)
from interpretable_adv.reports.table4 import plot_table4, summarize_table4, table4_seeds_markdown
from interpretable_adv.runs import (
    check_output_dir,
    data_dir_of_runs,
    get_device,
    predictions_path,
    read_predictions,
    seed_dirs,
)


def summarize_table3(seeds, vocab_hash=None, data_dir=None):
    """Per Table 3 row: each seed's test/dev accuracy and majority share, their mean and sd, degenerate seeds.

    With ``vocab_hash``, a run trained on another vocabulary is refused (naming it).
    """
    per_seed = {seed: {row["run"]: row for row in table3(path, vocab_hash, data_dir)}   # own extras
                for seed, path in seeds.items()}
    rows = []
    for name, title, paper in table3_rows(*seeds.values()):
        cells = {seed: per_seed[seed][name] for seed in seeds
                 if name in per_seed[seed] and per_seed[seed][name]["test_accuracy"] is not None}
        test = mean_sd([c["test_accuracy"] for c in cells.values()])
        dev = mean_sd([c["dev_accuracy"] for c in cells.values()])
        rows.append({"run": name, "model": title, "paper": paper,
                     "test_mean": test[0], "test_sd": test[1], "dev_mean": dev[0], "dev_sd": dev[1],
                     "majority_max": max((c["majority_share"] for c in cells.values()
                                          if c["majority_share"] is not None), default=None),
                     "degenerate_seeds": [seed for seed, c in cells.items() if c["degenerate"]],
                     "seeds": {str(seed): {"test_accuracy": c["test_accuracy"], "dev_accuracy": c["dev_accuracy"],
                                           "majority_share": c["majority_share"]} for seed, c in cells.items()}})
    return rows


def summarize_table1(seeds):
    """Per method and variant: each seed's perplexity, gap, words changed and flip rate, with mean and sd."""
    tables = {}
    for seed, path in seeds.items():
        result = os.path.join(path, "eval", "results.json")
        if os.path.isfile(result):
            tables[seed] = read_table1(result)
    if not tables:
        return None
    out = {"seeds": sorted(tables), "original": {}}
    out["original"]["perplexity"] = _stat([t["original"]["perplexity"] for t in tables.values()],
                                          list(tables))
    for method in TABLE1_ROWS:
        present = {seed: t[method] for seed, t in tables.items() if method in t}
        if not present:
            continue
        out[method] = {}
        for variant in VARIANTS:
            out[method][variant] = {key: _stat([p[variant][key] for p in present.values()], list(present))
                                    for key in TABLE1_KEYS}
        for key in TOKEN_SHARES:   # absent from results written before the key existed
            if all(key in p for p in present.values()):
                out[method][key] = _stat([p[key] for p in present.values()], list(present))
    return out


def read_table1(path):
    """The ``table1`` of an ``iadv evaluate`` results file, every figure the summary reads checked (UsageError)."""
    result = read_json(path, "evaluation results")
    table = result.get("table1") if isinstance(result, dict) else None
    problem = _table1_problem(table)
    if problem:
        raise UsageError("%s: not the results.json of `iadv evaluate` (%s); rerun `iadv evaluate` for that seed"
                         % (path, problem))
    return table


def _table1_problem(table):
    """What a ``table1`` lacks of the figures :func:`summarize_table1` reads, or None."""
    if not isinstance(table, dict) or not isinstance(table.get("original"), dict) \
            or "perplexity" not in table["original"]:
        return "no table1 with the original reviews' perplexity"
    for method in TABLE1_ROWS:
        for variant in VARIANTS if method in table else ():
            cell = table[method].get(variant) if isinstance(table[method], dict) else None
            missing = [key for key in TABLE1_KEYS if not isinstance(cell, dict) or key not in cell]
            if missing:
                return "table1 %s/%s lacks %s" % (method, variant, ", ".join(missing))
    return None


TABLE1_KEYS = ("perplexity", "gap", "mean_review_perplexity", "words_changed", "flip_rate")
TOKEN_SHARES = ("perturbed_share", "moved_share")
TABLE1_ROWS = tuple(row.name for row in methods.perturbed_rows())


def _stat(values, seeds):
    if any(v is None for v in values):
        return None
    mean, sd = mean_sd(values)
    return {"mean": mean, "sd": sd, "seeds": {str(s): v for s, v in zip(seeds, values)}}


def table3_markdown(rows, comparable):
    n = max((len(r["seeds"]) for r in rows), default=0)
    lines = ["# Table 3: test accuracy over %d seed(s)" % n, "",
             "mean +- sd (sample sd over seeds), each seed in the next column; test accuracy is computed once per run with "
             "its best-on-dev model (dropout off, correct / reviews). `majority` = the largest share of test reviews "
             "given one class by any seed's model; a model above %d%% is marked DEGENERATE (seed listed)."
             % (100 * DEGENERATE_SHARE)]
    if not comparable:
        lines.append("These runs are NOT on the paper's IMDB split (e.g. the synthetic corpus): the paper's "
                     "figures do not apply and are not shown.")
    lines += ["", "| model | test accuracy | per seed | dev accuracy (best) | majority |" +
              (" paper (best of 5) |" if comparable else ""),
              "|---|---|---|---|---|" + ("---|" if comparable else "")]
    for row in rows:
        if row["test_mean"] is None:
            lines.append("| %s | not run | | | |%s" % (row["model"], paper_cell(row["paper"]) if comparable else ""))
            continue
        seeds = ", ".join("%s: %.2f" % (s, c["test_accuracy"]) for s, c in row["seeds"].items())
        majority = "-" if row["majority_max"] is None else "%.1f%%" % (100 * row["majority_max"])
        if row["degenerate_seeds"]:
            majority += " DEGENERATE (seed %s)" % ", ".join(str(s) for s in row["degenerate_seeds"])
        line = "| %s | %.2f +- %.2f | %s | %.2f +- %.2f | %s |" % (
            row["model"], row["test_mean"], row["test_sd"], seeds, row["dev_mean"], row["dev_sd"], majority)
        lines.append(line + (paper_cell(row["paper"]) if comparable else ""))
    return "\n".join(lines) + "\n"


def plot_table3(rows, path, comparable):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["test_mean"] is not None][::-1]   # top to bottom in Table 3's order
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.42 * len(shown)))
    for i, row in enumerate(shown):
        values = [c["test_accuracy"] for c in row["seeds"].values()]
        ax.errorbar(row["test_mean"], i, xerr=row["test_sd"], fmt="o", color="#08519c", capsize=4, zorder=3)
        ax.scatter(values, [i] * len(values), color="#9ecae1", zorder=2, s=16)
        if comparable and row["paper"] is not None:
            ax.scatter([row["paper"]], [i], marker="|", s=200, color="#d94801", zorder=4)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([r["model"] for r in shown], fontsize=8)
    ax.set_xlabel("test accuracy (%)")
    ax.grid(axis="x", color="0.9")
    ax.set_title("Table 3 over seeds %s: mean +- sd (dark), each seed (light)%s"
                 % (", ".join(str(s) for s in sorted({k for r in shown for k in r["seeds"]})),
                    "\norange: the paper's best of 5" if comparable else ""), fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def table3_significance(rows, seeds, data, device, progress=True):
    """The significance family of Table 3 (:mod:`~interpretable_adv.reports.significance`): seed-paired test
    accuracies and, per seed, each review's outcome from the runs' test predictions (recomputed once where a run
    predates them; with ``data`` None, only the predictions the runs hold)."""
    accuracies, outcomes = {}, {}
    present = [row for row in rows if row["seeds"]]
    for row in present:
        accuracies[row["run"]] = {int(s): c["test_accuracy"] for s, c in row["seeds"].items()}
        outcomes[row["run"]] = {}
        for s in row["seeds"]:
            run_dir = os.path.join(seeds[int(s)], row["run"])
            if data is None:   # the dataset is not here: the predictions the runs hold, none recomputed
                saved = read_predictions(run_dir)
                if saved is not None:
                    outcomes[row["run"]][int(s)] = saved[0] == saved[1]
                continue
            if progress and not os.path.isfile(predictions_path(run_dir)):
                print("test predictions of %s: computing them once from best_model.npz" % run_dir, file=sys.stderr)
            predicted, labels = test_predictions(run_dir, data, device)
            outcomes[row["run"]][int(s)] = predicted == labels
    return significance(accuracies, outcomes)


def summarize(runs_dir, out=None, data_dir=None, device_spec=-1, progress=True):
    """Write the seed-aggregated tables for ``runs_dir``; returns the summary dictionary."""
    seeds = seed_dirs(runs_dir)
    if not seeds:
        raise UsageError("%s: no seedN/ run directories to summarize" % runs_dir)
    if data_dir is None:
        data_dir = data_dir_of_runs(*seeds.values())
    comparable = data_dir is not None and is_paper_imdb(data_dir)
    out = out or os.path.join(runs_dir, "eval")
    check_output_dir(out)
    vocab_hash, reference = reference_vocabulary(data_dir, *seeds.values())
    rows = summarize_table3(seeds, vocab_hash, reference)
    data = PreparedData(data_dir) if data_dir is not None and reference == data_dir else None
    comparisons = table3_significance(rows, seeds, data, get_device(device_spec), progress)
    titles = {row["run"]: row["model"] for row in rows}
    table1 = summarize_table1(seeds)
    table4 = summarize_table4(seeds)
    sample = None
    if table1 is not None:
        first = os.path.join(seeds[table1["seeds"][0]], "eval", "results.json")
        sample = read_json(first, "evaluation results").get("sample")
    summary = {"runs": runs_dir, "seeds": list(seeds), "comparable_to_paper": comparable, "table3": rows,
               "table3_significance": comparisons, "table1": table1, "table4": table4,
               "degenerate_share_threshold": DEGENERATE_SHARE}
    with OutputLock(out):
        remove_stale_temporaries(out)
        atomic_write_text(os.path.join(out, "table3.md"), table3_markdown(rows, comparable))
        atomic_write_text(os.path.join(out, "significance.md"), "# Table 3: which differences are real\n\n%s\n\n%s"
                          % (SIGNIFICANCE_NOTE % ("test accuracy", ALPHA, ALPHA),
                             significance_markdown(comparisons, titles)))
        if table1 is not None:
            atomic_write_text(os.path.join(out, "table1.md"), table1_markdown(
                table1, comparable, TITLE + " over seeds %s" % table1["seeds"],
                "Each seed's adversarially trained classifiers perturb the same %s test reviews; the LM is shared. "
                "mean +- sd over seeds. Headline variant: `%s` (every variant below)." % (sample, HEADLINE)))
        if table4 is not None:
            atomic_write_text(os.path.join(out, "table4.md"), table4_seeds_markdown(table4))
            plot_table4(table4, os.path.join(out, "table4.png"))
        plot_table3(rows, os.path.join(out, "table3.png"), comparable)
        atomic_write_json(os.path.join(out, "summary.json"), summary)
        for row in rows:
            for seed in row["degenerate_seeds"]:
                print("warning: seed %d %s predicts one class for > %d%% of the test reviews (degenerate)"
                      % (seed, row["run"], 100 * DEGENERATE_SHARE), file=sys.stderr)
    return summary

