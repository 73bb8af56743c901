"""``iadv evaluate``: Table 3 from the runs, Table 1 (LM perplexity of adversarial examples).

Table 1 (DESIGN section 6): on one fixed random sample of test reviews, every
adversarially trained classifier (AdvT, iAdvT, SPGD) perturbs each review as
in its training (its own eps, K, sigma, normalisation; gradient of the true
label's cross-entropy, dropout off, M = 1). The perturbed reviews are turned
back into words (``nearest``, ``direction``) or read as they are by the LM
(``continuous``), and scored by the pretrained LM, state reset per review,
``<eos>`` counted. Headline: ``direction``, the paper's interpretation (each
perturbed word is replaced by the neighbour it moved towards).
"""

import json
import os
import sys

import chainer
import numpy as np

from interpretable_adv import evaluation as ev
from interpretable_adv.data import PreparedData
from interpretable_adv.errors import UsageError
from interpretable_adv.files import (
    atomic_write_json,
    atomic_write_text,
    load_npz,
    read_json,
    remove_stale_temporaries,
)
from interpretable_adv.iterators import ReviewDataset
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.training.adversarial import resolved_eps

ADVERSARIAL_METHODS = ("advt", "iadvt", "spgd")
TABLE3_ROWS = (("baseline", "Baseline", 89.83), ("pretrained", "Pretrained", 92.69),
               ("advt", "Pretrained w/AdvT-Text", 93.58), ("iadvt", "Pretrained w/iAdvT-Text", 93.58),
               ("spgd", "Pretrained w/SPGD (1 iter, 75% sparsity)", 93.54))
PAPER_TABLE1 = {"original": 117.93, "advt": 122.53, "iadvt": 123.86, "spgd": 119.02}
METHOD_TITLES = {"advt": "AdvT-Text", "iadvt": "iAdvT-Text", "spgd": "SPGD"}
VARIANTS = ("direction", "nearest", "continuous")
HEADLINE = "direction"

DEFINITIONS = {
    "perplexity": "per-word LM perplexity exp(sum NLL / tokens) over the sample (<eos> counted, "
                  "state reset per review, <eos> as the start symbol)",
    "gap": "perplexity of the adversarial versions minus that of the original reviews",
    "words_changed": "share of tokens whose discretised word differs from the original",
    "flip_rate": "share of reviews whose predicted label differs from the prediction on the original",
    "direction": "each perturbed token -> the neighbour whose direction has the highest cosine with d_t "
                 "(headline; Sato et al.'s interpretation, the first word in Figures 2-4)",
    "nearest": "each token -> the vocabulary word nearest (Euclidean) to x_t + d_t",
    "continuous": "the LM reads E_lm[w] + d (the classifier's d added to the LM's embeddings); "
                  "targets are the original words; flips use the classifier on x + d",
}


def run_config(run_dir):
    """The configuration in a run's ``args.json`` (UsageError if absent or unreadable)."""
    saved = read_json(os.path.join(run_dir, "args.json"), "run settings")
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise UsageError("%s: not an args.json written by `iadv train`" % os.path.join(run_dir, "args.json"))
    return saved["config"]


def load_run(run_dir, data, device):
    """Classifier of a run directory (best-on-dev weights) and its configuration.

    Refuses (UsageError) a run trained on another vocabulary than ``data``'s.
    """
    from interpretable_adv.training.classifier import build_classifier

    config = run_config(run_dir)
    results_path = os.path.join(run_dir, "results.json")
    if os.path.isfile(results_path):
        trained_on = read_json(results_path, "run results").get("vocab_hash")
        if trained_on is not None and trained_on != data.vocab.hash:
            raise UsageError("%s was trained on another vocabulary (hash %s) than --data %s (%s); pass the "
                             "dataset the run used" % (run_dir, trained_on[:12], data.directory, data.vocab.hash[:12]))
    model = build_classifier(config, len(data.vocab))
    load_npz(os.path.join(run_dir, "best_model.npz"), model, "best model")
    model.to_device(device)
    return model, config


LM_STRUCTURE_KEYS = ("embed_dim", "hidden_dim", "softmax", "cutoffs", "div_value", "init_scale", "forget_bias")


def load_lm(path, data, device, what="--lm"):
    """The language model in ``path`` (``lm.npz``), checked against ``data``'s vocabulary first."""
    from interpretable_adv.training.common import read_meta
    from interpretable_adv.training.lm import build_language_model

    if not os.path.isfile(path):
        raise UsageError("%s %s: no such file" % (what, path))
    meta = read_meta(path, what)
    if meta.get("vocab_hash") != data.vocab.hash:
        raise UsageError("%s %s: trained on another vocabulary (hash %s) than --data %s (%s)"
                         % (what, path, str(meta.get("vocab_hash"))[:12], data.directory, data.vocab.hash[:12]))
    if meta.get("format") == "upstream-iadvt":
        raise UsageError("%s %s: an imported upstream LM holds only the embedding and the LSTM (for `iadv train "
                         "--pretrained`); perplexities need an LM with its softmax, from `iadv pretrain`" % (what, path))
    try:
        config = json.loads(meta["config"])
    except (KeyError, ValueError):
        raise UsageError("%s %s: no readable meta/config entry; not an LM written by iadv" % (what, path)) from None
    missing = [key for key in LM_STRUCTURE_KEYS if key not in config]
    if missing:
        raise UsageError("%s %s: its config lacks %s" % (what, path, ", ".join(missing)))
    config.setdefault("dropout", 0.0)   # evaluation runs with dropout off; older imports did not record it
    lm = build_language_model(config, len(data.vocab))
    load_npz(path, lm, what)
    lm.to_device(device)
    return lm


def sample_indices(n_reviews, sample, seed):
    rng = np.random.RandomState(seed)
    return np.sort(rng.permutation(n_reviews)[:sample])


def evaluate_method(method, model, config, lm, reviews, device):
    """Per-review records for one adversarially trained classifier."""
    xp = model.xp
    embeddings = model.embed.W.array
    neighbors = NeighborTable(config["n_neighbors"])   # rows computed once, for the words met
    neighbors.refresh(embeddings)
    eps = resolved_eps(dict(config, method=method))
    records = []
    for ids, label in reviews:
        ids_dev = xp.asarray(ids, dtype=np.int32)
        table = neighbors.lookup(ids_dev)
        d = ev.adversarial_example(model, ids_dev, label, method, eps, table, config["sigma"],
                                   config["perturbation_norm"], config["iadvt_weights"], config["towards_only"],
                                   config["spgd_rank"])
        x = embeddings[ids_dev]
        nearest = ev.discretize_nearest(x + d, embeddings)
        direction = ev.discretize_direction(d, ids_dev, table, embeddings)
        norms = xp.sqrt((d * d).sum(axis=1))
        record = {
            "method": method,
            "label": int(label),
            "norms": chainer.backends.cuda.to_cpu(norms).round(4).tolist(),
            "nearest": chainer.backends.cuda.to_cpu(nearest).tolist(),
            "direction": chainer.backends.cuda.to_cpu(direction).tolist(),
            "pred_original": ev.predict(model, ids_dev),
            "pred_continuous": ev.predict(model, ids_dev, d),
            "pred_nearest": ev.predict(model, nearest),
            "pred_direction": ev.predict(model, direction),
        }
        record["nll"] = {
            "direction": ev.review_nll(lm, direction),
            "nearest": ev.review_nll(lm, nearest),
            "continuous": ev.review_nll(lm, ids_dev, d if d.shape[1] == lm.embed.W.shape[1] else None),
        }
        records.append(record)
    return records


def summarize(original_nll, records_by_method, reviews):
    """Table 1 figures per method and variant."""
    original_ppl, original_mean = ev.perplexity(original_nll)
    table = {"original": {"perplexity": original_ppl, "mean_review_perplexity": original_mean}}
    for method, records in records_by_method.items():
        table[method] = {}
        for variant in VARIANTS:
            ppl, mean = ev.perplexity([r["nll"][variant] for r in records])
            changed = (None if variant == "continuous" else
                       float(np.mean(np.concatenate([np.asarray(r[variant]) != np.asarray(ids)
                                                     for r, (ids, _) in zip(records, reviews)]))))
            flips = float(np.mean([r["pred_" + variant] != r["pred_original"] for r in records]))
            table[method][variant] = {"perplexity": ppl, "mean_review_perplexity": mean,
                                      "gap": ppl - original_ppl, "words_changed": changed, "flip_rate": flips}
        table[method]["mean_perturbation_norm"] = float(np.mean([np.sqrt(np.sum(np.square(r["norms"])))
                                                                 for r in records]))
        table[method]["perturbed_share"] = float(np.mean(np.concatenate([np.asarray(r["norms"]) > 0
                                                                         for r in records])))
    return table


def table1_markdown(table, sample, seed, comparable=True):
    """Markdown Table 1; ``comparable=False`` (not the paper's IMDB) omits the paper's columns."""
    lines = ["# Table 1: adversarial quality (LM perplexity)", "",
             "Sample: %d test reviews (seed %d). Headline variant: `%s`." % (sample, seed, HEADLINE)]
    if not comparable:
        lines.append("These runs are NOT on the paper's IMDB split (e.g. the synthetic corpus): the paper's "
                     "figures do not apply and are not shown.")
    lines += ["", "| attack | perplexity (%s) | gap |%s words changed | flip rate |"
              % (HEADLINE, " paper perplexity | paper gap |" if comparable else ""),
              "|---|---|---|---|---|" + ("---|---|" if comparable else "")]
    original = table["original"]["perplexity"]
    paper = " %.2f | 0.00 |" % PAPER_TABLE1["original"] if comparable else ""
    lines.append("| None (original reviews) | %.2f | 0.00 |%s 0 | 0 |" % (original, paper))
    for method in ADVERSARIAL_METHODS:
        if method not in table:
            continue
        row = table[method][HEADLINE]
        paper = (" %.2f | %+.2f |" % (PAPER_TABLE1[method], PAPER_TABLE1[method] - PAPER_TABLE1["original"])
                 if comparable else "")
        lines.append("| %s | %.2f | %+.2f |%s %.1f%% | %.1f%% |" % (
            METHOD_TITLES[method], row["perplexity"], row["gap"], paper,
            100 * row["words_changed"], 100 * row["flip_rate"]))
    lines += ["", "All variants:", "", "| attack | variant | perplexity | gap | mean per-review perplexity | "
              "words changed | flip rate |", "|---|---|---|---|---|---|---|"]
    for method in ADVERSARIAL_METHODS:
        for variant in VARIANTS:
            if method not in table:
                continue
            row = table[method][variant]
            changed = "-" if row["words_changed"] is None else "%.1f%%" % (100 * row["words_changed"])
            lines.append("| %s | %s | %.2f | %+.2f | %.2f | %s | %.1f%% |" % (
                method, variant, row["perplexity"], row["gap"], row["mean_review_perplexity"], changed,
                100 * row["flip_rate"]))
    lines += ["", "Definitions:", ""] + ["- **%s**: %s" % item for item in DEFINITIONS.items()]
    return "\n".join(lines) + "\n"


DEGENERATE_SHARE = 0.9
PAPER_SPLIT_SIZES = {"train": 21246, "dev": 3754, "test": 25000}


def is_paper_imdb(data_dir):
    """Whether ``data_dir`` was prepared from the real IMDB with the paper's split (so the paper's figures compare)."""
    path = os.path.join(data_dir, "stats.json")
    if not os.path.isfile(path):
        return False
    table2 = read_json(path, "dataset statistics").get("table2", {})
    return all(table2.get(split, {}).get("examples") == n for split, n in PAPER_SPLIT_SIZES.items())


def data_dir_of_runs(*runs_dirs):
    """The prepared dataset recorded in the first ``args.json`` of a Table 3 row under ``runs_dirs``, or None."""
    for runs_dir in runs_dirs:
        for name in ("spgd", "advt", "iadvt", "pretrained", "baseline"):
            path = os.path.join(runs_dir, name, "args.json")
            if os.path.isfile(path):
                return run_config(os.path.join(runs_dir, name)).get("data")
    return None


def is_degenerate(majority_share):
    """A model that predicts one class for more than 90% of the test reviews."""
    return majority_share is not None and majority_share > DEGENERATE_SHARE


def table3(runs_dir):
    """Table 3 rows of one set of runs: test and best dev accuracy (%), test majority-class share."""
    rows = []
    for name, title, paper in TABLE3_ROWS:
        path = os.path.join(runs_dir, name, "results.json")
        result = read_json(path, "run results") if os.path.isfile(path) else None
        majority = None if result is None else result.get("test_majority_share")
        rows.append({"run": name, "model": title, "paper": paper,
                     "test_accuracy": None if result is None else 100 * result["test_accuracy"],
                     "dev_accuracy": None if result is None or result["dev_accuracy_best"] is None
                     else 100 * result["dev_accuracy_best"],
                     "majority_share": majority, "degenerate": is_degenerate(majority)})
    return rows


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
        lines.append(line + (" %.2f |" % row["paper"] if comparable else ""))
    return "\n".join(lines) + "\n"


def check_output_dir(out, flag="--out"):
    """An evaluation output may not be a file, nor a training run's directory (its results.json would go)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError("%s %s: exists and is not a directory" % (flag, out))
    if os.path.isfile(os.path.join(out, "args.json")):
        raise UsageError("%s %s: holds a training run (args.json); evaluation output would overwrite its "
                         "results.json. Choose another directory (default: RUNS/eval)" % (flag, out))


def run_evaluation(runs_dir, lm_path, data_dir, out, sample=200, seed=0, device_spec=-1, progress=True):
    """Table 3 and Table 1 of ``runs_dir`` into ``out``; every input is checked before the work starts,
    and the outputs are written (atomically) only when everything is computed."""
    from tqdm import tqdm

    from interpretable_adv.training.common import get_device

    check_output_dir(out)
    device = get_device(device_spec)
    data = PreparedData(data_dir)
    rows = table3(runs_dir)
    comparable = is_paper_imdb(data_dir)
    methods = [m for m in ADVERSARIAL_METHODS if os.path.isfile(os.path.join(runs_dir, m, "best_model.npz"))]
    if not methods:
        raise UsageError("%s: no adversarial run (advt/iadvt/spgd with best_model.npz) to evaluate" % runs_dir)
    lm = load_lm(lm_path, data, device)
    runs = {method: load_run(os.path.join(runs_dir, method), data, device) for method in methods}
    for line in degenerate_warnings(rows, runs_dir.rstrip("/") + "/"):
        print(line, file=sys.stderr)
    test = data.split("test")
    indices = sample_indices(len(test), sample, seed)
    records_by_method, reviews = {}, None
    for method in methods:
        model, config = runs[method]
        dataset = ReviewDataset(test, config.get("max_length"), indices)
        reviews = [dataset[i] for i in range(len(dataset))]
        iterator = tqdm(reviews, desc="Table 1: " + method, disable=not progress, file=sys.stderr)
        records_by_method[method] = evaluate_method(method, model, config, lm, iterator, device)
    original_nll = [ev.review_nll(lm, device.send(ids)) for ids, _ in reviews]
    table = summarize(original_nll, records_by_method, reviews)
    examples = []
    for i, (index, (ids, label)) in enumerate(zip(indices, reviews)):
        entry = {"test_index": int(index), "label": int(label), "tokens": data.vocab.decode(ids.tolist()),
                 "ppl_original": float(np.exp(original_nll[i].mean()))}
        for method, records in records_by_method.items():
            r = records[i]
            entry[method] = {"norms": r["norms"], "nearest": data.vocab.decode(r["nearest"]),
                             "direction": data.vocab.decode(r["direction"]),
                             "predictions": {k[5:]: r[k] for k in r if k.startswith("pred_")},
                             "ppl": {v: float(np.exp(chainer.backends.cuda.to_cpu(r["nll"][v]).mean()))
                                     for v in VARIANTS}}
        examples.append(json.dumps(entry) + "\n")
    results = {"table1": table, "table3": rows, "sample": len(reviews), "seed": seed, "headline": HEADLINE,
               "comparable_to_paper": comparable,
               "definitions": DEFINITIONS, "lm": lm_path, "runs": runs_dir}
    os.makedirs(out, exist_ok=True)
    remove_stale_temporaries(out)
    atomic_write_text(os.path.join(out, "table3.md"), table3_markdown(rows, comparable))
    atomic_write_text(os.path.join(out, "table1.md"), table1_markdown(table, len(reviews), seed, comparable))
    atomic_write_text(os.path.join(out, "examples.jsonl"), "".join(examples))
    atomic_write_json(os.path.join(out, "results.json"), results)   # last: its presence means "done"
    return results
