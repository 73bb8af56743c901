"""Table 3: test accuracy of the five rows of a run set, with degenerate models flagged.

Each run's ``results.json`` holds its test accuracy (computed once, with the
best-on-dev model, dropout off) and ``test_majority_share``; a model that gives
one class to more than 90% of the test reviews is marked DEGENERATE. The
paper's figures are shown only for runs on the paper's IMDB split.
"""

import os

from interpretable_adv import methods
from interpretable_adv.errors import UsageError
from interpretable_adv.files import read_json

def table3_rows(*runs_dirs):
    """``(name, title, paper figure)`` of a table over ``runs_dirs``: every ``paper`` row of the registry
    (:func:`interpretable_adv.methods.rows`), then the rows beyond the paper (LM term, controls) any of them
    has run."""
    extra = [row for row in methods.rows(("lm", "control", "virtual"))
             if any(os.path.isfile(os.path.join(d, row.name, "results.json")) for d in runs_dirs)]
    return tuple((row.name, row.title, row.paper) for row in list(methods.rows(("paper",))) + extra)


DEGENERATE_SHARE = 0.9


PAPER_SPLIT_SIZES = {"train": 21246, "dev": 3754, "test": 25000}


def is_paper_imdb(data_dir):
    """Whether ``data_dir`` was prepared from the real IMDB with the paper's split (so the paper's figures compare)."""
    path = os.path.join(data_dir, "stats.json")
    if not os.path.isfile(path):
        return False
    table2 = read_json(path, "dataset statistics").get("table2", {})
    return all(table2.get(split, {}).get("examples") == n for split, n in PAPER_SPLIT_SIZES.items())


def is_degenerate(majority_share):
    """A model that predicts one class for more than 90% of the test reviews."""
    return majority_share is not None and majority_share > DEGENERATE_SHARE


def table3(runs_dir, vocab_hash=None, data_dir=None):
    """Table 3 rows of one set of runs: test and best dev accuracy (%), test majority-class share.

    With ``vocab_hash`` (of the run set's dataset ``data_dir``), a run
    trained on another vocabulary is refused (UsageError naming it): its
    accuracy is on other data and may not be averaged in.
    """
    rows = []
    for name, title, paper in table3_rows(runs_dir):
        path = os.path.join(runs_dir, name, "results.json")
        result = read_run_results(path, vocab_hash, data_dir) if os.path.isfile(path) else None
        majority = None if result is None else result.get("test_majority_share")
        rows.append({"run": name, "model": title, "paper": paper,
                     "test_accuracy": None if result is None else 100 * result["test_accuracy"],
                     "dev_accuracy": None if result is None or result["dev_accuracy_best"] is None
                     else 100 * result["dev_accuracy_best"],
                     "majority_share": majority, "degenerate": is_degenerate(majority)})
    return rows


RESULT_KEYS = ("test_accuracy", "dev_accuracy_best")


def read_run_results(path, vocab_hash=None, data_dir=None):
    """A run's ``results.json``, checked: a dict with :data:`RESULT_KEYS`, on ``vocab_hash``'s vocabulary."""
    result = read_json(path, "run results")
    if not isinstance(result, dict) or any(key not in result for key in RESULT_KEYS):
        raise UsageError("%s: not the results.json of `iadv train` (needs %s); remove the run or rerun it"
                         % (path, ", ".join(RESULT_KEYS)))
    trained_on = result.get("vocab_hash")
    if vocab_hash is not None and trained_on is not None and trained_on != vocab_hash:
        raise UsageError("%s was trained on another vocabulary (hash %s) than the run set's dataset %s (%s): its "
                         "accuracy is on other data and cannot be tabulated with the others; move it out of the "
                         "run set" % (os.path.dirname(path), str(trained_on)[:12], data_dir or "", vocab_hash[:12]))
    return result


def reference_vocabulary(data_dir, *runs_dirs):
    """``(hash, what)``: the vocabulary every run of ``runs_dirs`` must have been trained on, for
    :func:`table3`: ``data_dir``'s when that dataset is here, else the first run's (so that the runs at
    least agree among themselves); ``(None, None)`` when neither is known."""
    if data_dir is not None and os.path.isfile(os.path.join(data_dir, "vocab.json")):
        from interpretable_adv.data import PreparedData
        return PreparedData(data_dir).vocab.hash, data_dir
    for runs_dir in runs_dirs:
        for name, _, _ in table3_rows(runs_dir):
            path = os.path.join(runs_dir, name, "results.json")
            if os.path.isfile(path):
                trained_on = read_run_results(path).get("vocab_hash")
                if trained_on:
                    return trained_on, "of %s" % os.path.dirname(path)
    return None, None


def paper_cell(value):
    return " - |" if value is None else " %.2f |" % value


def degenerate_warnings(rows, where=""):
    """One line per degenerate model (for stderr)."""
    return ["warning: %s%s predicts one class for %.1f%% of the test reviews (> %d%%): a degenerate model"
            % (where, row["run"], 100 * row["majority_share"], 100 * DEGENERATE_SHARE)
            for row in rows if row["degenerate"]]


def table3_markdown(rows, comparable=True):
    """Markdown Table 3 of one set of runs; ``comparable=False`` (not the paper's IMDB) omits the paper column."""
    caption = ("Test accuracy is computed once per run, after training, with the best-on-dev model (dropout off, "
               "correct predictions / reviews). `majority` = share of the test reviews assigned the most frequent "
               "predicted class; a model above %d%% is marked DEGENERATE." % (100 * DEGENERATE_SHARE))
    if not comparable:
        caption += (" These runs are NOT on the paper's IMDB split (e.g. the synthetic corpus): the paper's "
                    "figures do not apply and are not shown.")
    header = "| model | test accuracy | majority | dev accuracy (best) |" + (" paper |" if comparable else "")
    lines = ["# Table 3: test accuracy", "", caption, "", header, "|---|---|---|---|" + ("---|" if comparable else "")]
    for row in rows:
        ours = "not run" if row["test_accuracy"] is None else "%.2f" % row["test_accuracy"]
        dev = "-" if row["dev_accuracy"] is None else "%.2f" % row["dev_accuracy"]
        majority = "-" if row["majority_share"] is None else "%.1f%%%s" % (
            100 * row["majority_share"], " DEGENERATE" if row["degenerate"] else "")
        line = "| %s | %s | %s | %s |" % (row["model"], ours, majority, dev)
        lines.append(line + (paper_cell(row["paper"]) if comparable else ""))
    return "\n".join(lines) + "\n"

