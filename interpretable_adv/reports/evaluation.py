"""One seed's evaluation (``iadv evaluate``): Table 3 of its runs, Table 1 on a fixed sample of test reviews.

Every input (the runs, the LM, the dataset, the output directory) is checked
before the work starts; the four outputs (``table3.md``, ``table1.md``,
``examples.jsonl``, ``results.json``) are written, atomically, only when all
is computed, ``results.json`` last, under the output directory's lock.
"""

import json
import os
import sys

import chainer
import numpy as np

from interpretable_adv import methods
from interpretable_adv.checkpoints import load_lm, load_lm_term, load_run
from interpretable_adv.data import PreparedData
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_json, atomic_write_text, remove_stale_temporaries
from interpretable_adv.iterators import ReviewDataset
from interpretable_adv.locking import OutputLock
from interpretable_adv.reports.table1 import (
    DEFINITIONS,
    HEADLINE,
    TITLE,
    VARIANTS,
    method_records,
    review_nll,
    sample_indices,
    table1_figures,
    table1_markdown,
)
from interpretable_adv.reports.table3 import (
    degenerate_warnings,
    is_paper_imdb,
    reference_vocabulary,
    table3,
    table3_markdown,
)
from interpretable_adv.runs import check_output_dir, get_device


def collect_table3(runs_dir, data_dir, out):
    """``iadv evaluate --table3-only``: Table 3 of ``runs_dir`` into ``out/table3.md`` (runs checked for one
    vocabulary, ``data_dir``'s when it is here)."""
    check_output_dir(out)
    rows = table3(runs_dir, *reference_vocabulary(data_dir, runs_dir))
    with OutputLock(out):
        for line in degenerate_warnings(rows, runs_dir.rstrip("/") + "/"):
            print(line, file=sys.stderr)
        atomic_write_text(os.path.join(out, "table3.md"), table3_markdown(rows, is_paper_imdb(data_dir)))
    return rows


def evaluate_runs(runs_dir, lm_path, data_dir, out, sample=200, seed=0, device_spec=-1, progress=True):
    """Table 3 and Table 1 of ``runs_dir`` into ``out``; every input is checked before the work starts,
    and the outputs are written (atomically) only when everything is computed."""
    from tqdm import tqdm

    check_output_dir(out)
    device = get_device(device_spec)
    data = PreparedData(data_dir)
    rows = table3(runs_dir, data.vocab.hash, data_dir)
    comparable = is_paper_imdb(data_dir)
    perturbed = [row.name for row in methods.perturbed_rows()]
    present = [name for name in perturbed if os.path.isfile(os.path.join(runs_dir, name, "best_model.npz"))]
    if not present:
        raise UsageError("%s: no adversarial run (%s with best_model.npz) to evaluate"
                         % (runs_dir, "/".join(perturbed)))
    lm = load_lm(lm_path, data, device)
    runs = {name: load_run(os.path.join(runs_dir, name), data, device) for name in present}
    lm_terms = {name: load_lm_term(runs[name][1], data, device) for name in present}
    with OutputLock(out):   # every input checked: from here on this process is the only writer of out
        for line in degenerate_warnings(rows, runs_dir.rstrip("/") + "/"):
            print(line, file=sys.stderr)
        test = data.split("test")
        indices = sample_indices(len(test), sample, seed)
        records_by_method, reviews = {}, None
        for method in runs:
            model, config = runs[method]
            dataset = ReviewDataset(test, config.get("max_length"), indices)
            reviews = [dataset[i] for i in range(len(dataset))]
            iterator = tqdm(reviews, desc="Table 1: " + method, disable=not progress, file=sys.stderr)
            records_by_method[method] = method_records(method, model, config, lm, iterator, lm_terms[method])
        original_nll = [review_nll(lm, device.send(ids)) for ids, _ in reviews]
        table = table1_figures(original_nll, records_by_method, reviews)
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
        remove_stale_temporaries(out)
        atomic_write_text(os.path.join(out, "table3.md"), table3_markdown(rows, comparable))
        atomic_write_text(os.path.join(out, "table1.md"), table1_markdown(
            table, comparable, TITLE, "Sample: %d test reviews (seed %d). Headline variant: `%s`."
            % (len(reviews), seed, HEADLINE)))
        atomic_write_text(os.path.join(out, "examples.jsonl"), "".join(examples))
        atomic_write_json(os.path.join(out, "results.json"), results)   # last: its presence means "done"
        return results
