"""Table 4: robust accuracy of every model of a run set under one common attack (:mod:`.word_substitution`).

``iadv attack --runs RUNS/seedN`` attacks every Table 3 row of one seed on the
same sample of test reviews (the same sample as Table 1 by default: seed 0,
as many reviews) with the candidate lists of the pretrained LM, and writes
``RUNS/seedN/attack/{results.json, table4.md, examples.jsonl}``. Because the
attack is greedy and stops at the first flip, the run at budget ``b`` also
answers every smaller budget exactly: a review flipped after ``n`` changes is
flipped by the attack at any budget of at least ``n`` words; ``robust_at``
gives the accuracy under attack at the shares of :data:`BUDGET_SHARES`.
``iadv summarize`` then reads every seed's ``attack/results.json``: Table 4
over seeds, with the paired significance of robust accuracy.
"""

import dataclasses
import json
import os
import sys

import numpy as np

from interpretable_adv.checkpoints import load_lm, load_run
from interpretable_adv.data import PreparedData
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_json, atomic_write_text, read_json, remove_stale_temporaries
from interpretable_adv.iterators import ReviewDataset
from interpretable_adv.locking import OutputLock
from interpretable_adv.reports.significance import ALPHA, SIGNIFICANCE_NOTE, mean_sd, significance, significance_markdown
from interpretable_adv.reports.table1 import sample_indices
from interpretable_adv.reports.table3 import table3_rows
from interpretable_adv.reports.word_substitution import (
    PROTECTED_IDS,
    attack_review,
    attack_summary,
    budget_of,
    shared_candidates,
)
from interpretable_adv.runs import check_output_dir, get_device

BUDGET_SHARES = (0.02, 0.05)   # smaller budgets read off the same greedy run (plus the run's own)
EXAMPLES_PER_ROW = 20          # successful attacks written per model to examples.jsonl

TABLE4_COLUMNS = ("Original accuracy", "Accuracy under attack", "Attack success rate", "Average perturbed word %",
                  "Avg num queries", "Average Original Perplexity", "Average Attack Perplexity")


HEADLINE_SHARE = 0.05   # the budget whose accuracy under attack the significance tests compare (see docs/results.md)


def robust_outcomes(outcomes, max_share):
    """Per review: whether the model is right after the attack at budget ``max_share`` (a skipped review: False).

    ``outcomes``: the ``status``, ``changed`` and ``words`` lists of one model's attack (results.json).
    """
    return [status == "failed" or (status == "succeeded" and changed > budget_of(words, max_share))
            for status, changed, words in zip(outcomes["status"], outcomes["changed"], outcomes["words"])]


def robust_at(outcomes, shares):
    """Accuracy under attack (%) at each budget share of ``shares`` (none above the run's), from one run."""
    return {"%g" % share: 100.0 * float(np.mean(robust_outcomes(outcomes, share))) for share in shares}


def word_diff(vocab, original, adversarial):
    """The review with each substituted word written ``[[old]] -> [[new]]``."""
    old, new = vocab.decode(list(original)), vocab.decode(list(adversarial))
    return " ".join(a if a == b else "[[%s]] -> [[%s]]" % (a, b) for a, b in zip(old, new))


def attack_runs(runs_dir, lm_path, data_dir, out, settings, sample=200, seed=0, device_spec=-1, progress=True):
    """Attack every Table 3 row of ``runs_dir`` (one seed) and write Table 4 of that seed into ``out``."""
    from tqdm import tqdm

    check_output_dir(out)
    device = get_device(device_spec)
    data = PreparedData(data_dir)
    if not settings.n_candidates < len(data.vocab) - len(PROTECTED_IDS):
        raise UsageError("--candidates %d: K must be below the vocabulary size minus %d (%d)"
                         % (settings.n_candidates, len(PROTECTED_IDS), len(data.vocab) - len(PROTECTED_IDS)))
    names = [name for name, _, _ in table3_rows(runs_dir)
             if os.path.isfile(os.path.join(runs_dir, name, "best_model.npz"))]
    if not names:
        raise UsageError("%s: no finished run (ROW/best_model.npz) to attack" % runs_dir)
    titles = {name: title for name, title, _ in table3_rows(runs_dir)}
    lm = load_lm(lm_path, data, device)
    runs = {name: load_run(os.path.join(runs_dir, name), data, device) for name in names}
    lengths = {config.get("max_length") for _, config in runs.values()}
    if len(lengths) > 1:
        raise UsageError("%s: the runs read reviews cut to different lengths (max_length %s); one attack needs "
                         "the same reviews for every model" % (runs_dir, sorted(lengths, key=str)))
    test = data.split("test")
    indices = sample_indices(len(test), sample, seed)
    dataset = ReviewDataset(test, lengths.pop(), indices)
    reviews = [dataset[i] for i in range(len(dataset))]
    candidates = shared_candidates(lm.embed.W.array, np.concatenate([ids for ids, _ in reviews]),
                                   settings.n_candidates)
    with OutputLock(out):
        per_row, examples = {}, []
        for name in names:
            model = runs[name][0]
            iterator = tqdm(reviews, desc="Table 4: " + name, disable=not progress, file=sys.stderr)
            per_row[name] = [attack_review(model, ids, int(label), candidates, settings, lm) for ids, label in iterator]
            succeeded = [(i, r) for i, r in enumerate(per_row[name]) if r["status"] == "succeeded"]
            for i, r in succeeded[:EXAMPLES_PER_ROW]:
                examples.append(json.dumps({"row": name, "test_index": int(indices[i]), "label": r["label"],
                                            "changed": r["changed"], "words": r["words"],
                                            "ppl_original": r.get("ppl_original"),
                                            "ppl_adversarial": r.get("ppl_adversarial"),
                                            "diff": word_diff(data.vocab, reviews[i][0], r["adversarial"])}) + "\n")
        shares = sorted({s for s in BUDGET_SHARES + (HEADLINE_SHARE,) if s < settings.max_share}) + [settings.max_share]
        table = {}
        for name, results in per_row.items():
            outcomes = {key: [r[key] for r in results] for key in ("status", "changed", "words")}
            table[name] = dict(attack_summary(results), robust_at=robust_at(outcomes, shares), outcomes=outcomes)
        results = {"table4": table, "titles": {n: titles[n] for n in names}, "settings": dataclasses.asdict(settings),
                   "budget_shares": shares, "sample": len(reviews), "seed": seed, "test_indices": indices.tolist(),
                   "lm": lm_path, "runs": runs_dir}
        remove_stale_temporaries(out)
        atomic_write_text(os.path.join(out, "table4.md"), table4_markdown(results))
        atomic_write_text(os.path.join(out, "examples.jsonl"), "".join(examples))
        atomic_write_json(os.path.join(out, "results.json"), results)   # last: its presence means "done"
    return results


def caption(settings, sample, seed):
    filter_text = ("an LM filter: a review's perplexity may rise to at most %g x the original's"
                   % settings["max_ppl_ratio"]) if settings["max_ppl_ratio"] else "no LM filter"
    return ("Greedy word substitution guided by each model's gradient (first-order score g_t . (e_c - e_t)), "
            "candidates shared by every model: each word's %d nearest neighbours (cosine) in the pretrained LM's "
            "embedding space; %d substitutions scored per step; budget %g%% of a review's words (at least one); "
            "%s; stops at the first flip. %d test reviews (sample seed %d), the same for every model. "
            "Perplexities: the LM's, over the successful attacks."
            % (settings["n_candidates"], settings["top"], 100 * settings["max_share"], filter_text, sample, seed))


def table4_markdown(results):
    """One seed's Table 4: TextAttack's summary columns per model, and the accuracy under attack at smaller budgets."""
    shares = results["budget_shares"]
    lines = ["# Table 4: accuracy under one common word-substitution attack", "",
             caption(results["settings"], results["sample"], results["seed"]), "",
             "| model | " + " | ".join(TABLE4_COLUMNS) + " | " +
             " | ".join("under attack, budget %g%%" % (100 * s) for s in shares) + " |",
             "|---|" + "---|" * (len(TABLE4_COLUMNS) + len(shares))]
    for name, row in results["table4"].items():
        cells = [_cell(row.get(column)) for column in TABLE4_COLUMNS]
        cells += [_cell(row["robust_at"]["%g" % s]) for s in shares]
        lines.append("| %s | %s |" % (results["titles"][name], " | ".join(cells)))
    return "\n".join(lines) + "\n"


def _cell(value):
    return "-" if value is None else "%.2f" % value


def read_table4(path):
    """One seed's ``attack/results.json`` (UsageError if it is not one)."""
    result = read_json(path, "attack results")
    if not isinstance(result, dict) or not isinstance(result.get("table4"), dict) or "settings" not in result:
        raise UsageError("%s: not the results.json of `iadv attack`; rerun `iadv attack` for that seed" % path)
    return result


def summarize_table4(seeds):
    """Table 4 over the seeds that have ``attack/results.json``: per row each column's mean, sd and per-seed values,
    and the significance family of the accuracy under attack at :data:`HEADLINE_SHARE` (None if no seed has one).

    Every seed must have been attacked with the same settings and sample (UsageError otherwise).
    """

    found = {seed: read_table4(os.path.join(path, "attack", "results.json")) for seed, path in seeds.items()
             if os.path.isfile(os.path.join(path, "attack", "results.json"))}
    if not found:
        return None
    first_seed, first = next(iter(found.items()))
    for seed, result in found.items():
        same = (result["settings"], result["sample"], result["seed"]) == (first["settings"], first["sample"],
                                                                          first["seed"])
        if not same:
            raise UsageError("seed %d's attack (%s, %d reviews, sample seed %d) differs from seed %d's (%s, %d, %d); "
                             "rerun `iadv attack` with the same flags for every seed"
                             % (seed, result["settings"], result["sample"], result["seed"], first_seed,
                                first["settings"], first["sample"], first["seed"]))
    shares = first["budget_shares"]
    headline = max([s for s in shares if s <= HEADLINE_SHARE] or [shares[0]])
    names = [name for name, _, _ in table3_rows(*seeds.values()) if any(name in r["table4"] for r in found.values())]
    rows, accuracies, outcomes = [], {}, {}
    for name in names:
        cells = {seed: r["table4"][name] for seed, r in found.items() if name in r["table4"]}
        columns = {column: _over_seeds({seed: cell.get(column) for seed, cell in cells.items()})
                   for column in TABLE4_COLUMNS}
        columns.update({"budget %g" % share: _over_seeds({seed: cell["robust_at"]["%g" % share]
                                                         for seed, cell in cells.items()}) for share in shares})
        accuracies[name] = {seed: cell["robust_at"]["%g" % headline] for seed, cell in cells.items()}
        outcomes[name] = {seed: np.asarray(robust_outcomes(cell["outcomes"], headline)) for seed, cell in cells.items()}
        rows.append({"run": name, "model": first["titles"].get(name, name), "columns": columns})
    return {"seeds": sorted(found), "settings": first["settings"], "sample": first["sample"], "sample_seed": first["seed"],
            "budget_shares": shares, "headline_share": headline, "rows": rows,
            "significance": significance(accuracies, outcomes)}


def _over_seeds(values):
    """``{"mean", "sd", "seeds"}`` of seed -> value (None values left out of mean and sd)."""
    mean, sd = mean_sd(list(values.values()))
    return {"mean": mean, "sd": sd, "seeds": {str(seed): value for seed, value in values.items()}}


def table4_seeds_markdown(summary):
    """Table 4 over seeds: mean +- sd of every column (per-seed values of the headline budget), then significance."""
    shares = summary["budget_shares"]
    headline = "budget %g" % summary["headline_share"]
    lines = ["# Table 4 over seeds %s: accuracy under one common word-substitution attack" % summary["seeds"], "",
             caption(summary["settings"], summary["sample"], summary["sample_seed"]) +
             " mean +- sd over seeds (sample sd).", "",
             "| model | " + " | ".join(TABLE4_COLUMNS) + " | " +
             " | ".join("under attack, budget %g%%" % (100 * s) for s in shares) +
             " | per seed, budget %g%% |" % (100 * summary["headline_share"]),
             "|---|" + "---|" * (len(TABLE4_COLUMNS) + len(shares) + 1)]
    for row in summary["rows"]:
        columns = [row["columns"][c] for c in TABLE4_COLUMNS] + [row["columns"]["budget %g" % s] for s in shares]
        cells = ["-" if c["mean"] is None else "%.2f +- %.2f" % (c["mean"], c["sd"]) for c in columns]
        per_seed = ", ".join("%s: %.2f" % (s, v) for s, v in row["columns"][headline]["seeds"].items())
        lines.append("| %s | %s | %s |" % (row["model"], " | ".join(cells), per_seed))
    titles = {row["run"]: row["model"] for row in summary["rows"]}
    what = "accuracy under attack at budget %g%%" % (100 * summary["headline_share"])
    lines += ["", "## Which differences are real (%s)" % what, "", SIGNIFICANCE_NOTE % (what, ALPHA, ALPHA), "",
              significance_markdown(summary["significance"], titles, what).rstrip("\n")]
    return "\n".join(lines) + "\n"


def plot_table4(summary, path):
    """Accuracy under attack against the budget, one line per model (mean over seeds, sd as error bars)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interpretable_adv.reports.plots import save_figure

    shares = [0.0] + list(summary["budget_shares"])
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for row in summary["rows"]:
        columns = row["columns"]
        means = [columns["Original accuracy"]["mean"]] + [columns["budget %g" % s]["mean"] for s in shares[1:]]
        sds = [columns["Original accuracy"]["sd"]] + [columns["budget %g" % s]["sd"] for s in shares[1:]]
        ax.errorbar([100 * s for s in shares], means, yerr=sds, marker="o", capsize=3, label=row["model"])
    ax.set_xlabel("budget: at most this share of a review's words changed (%)")
    ax.set_ylabel("accuracy under attack (%)")
    ax.set_xticks([100 * s for s in shares])
    ax.grid(color="0.9")
    ax.legend(fontsize=7)
    ax.set_title("Table 4 over seeds %s: one common word-substitution attack, %d test reviews\n(budget 0 = clean "
                 "accuracy; mean +- sd over seeds)" % (summary["seeds"], summary["sample"]), fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
