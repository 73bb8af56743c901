"""``iadv evaluate``: Table 3 from a set of runs, and Table 1 on a fixed sample of test reviews.

Every input (the runs, the LM, the dataset, the output directory) is checked
before the work starts; the four outputs (``table3.md``, ``table1.md``,
``examples.jsonl``, ``results.json``) are written, atomically, only when all
is computed, ``results.json`` last.
"""

import json
import os
import sys

import chainer
import numpy as np

from interpretable_adv import methods
from interpretable_adv.data import PreparedData
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_json, atomic_write_text, remove_stale_temporaries
from interpretable_adv.iterators import ReviewDataset
from interpretable_adv.lm_term import LMTerm
from interpretable_adv.locking import OutputLock
from interpretable_adv.presets.schema import add_device_flag, flag_type
from interpretable_adv.runs import (
    RUN_NAMES,
    check_output_dir,
    data_dir_of_runs,
    describe_runs,
    get_device,
    load_lm,
    load_run,
)
from interpretable_adv.table1 import (
    DEFINITIONS,
    HEADLINE,
    VARIANTS,
    method_records,
    review_nll,
    sample_indices,
    table1_figures,
    table1_markdown,
)
from interpretable_adv.table3 import (
    degenerate_warnings,
    is_paper_imdb,
    reference_vocabulary,
    table3,
    table3_markdown,
)

HELP = "Table 3 from the runs and Table 1 (LM perplexity of adversarial examples)"


def add_arguments(parser):
    parser.add_argument("--runs", default=os.path.join("runs", "small"),
                        help="directory holding baseline/, pretrained/, advt/, iadvt/, spgd/ runs")
    parser.add_argument("--lm", default=None, help="pretrained LM (default: RUNS/lm/lm.npz)")
    parser.add_argument("--data", default=None, help="prepared dataset (default: the one the runs used)")
    parser.add_argument("--out", "-o", default=None, help="output directory (default: RUNS/eval)")
    parser.add_argument("--sample", type=flag_type("int", low=1), default=200,
                        help="number of test reviews for Table 1")
    parser.add_argument("--seed", type=flag_type("int", low=0, high=2 ** 32 - 1), default=0,
                        help="seed of the sample")
    add_device_flag(parser)
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument("--table3-only", action="store_true", help="only collect Table 3 from the runs")


def run(args):
    lm = args.lm or os.path.join(args.runs, "lm", "lm.npz")
    data = args.data or data_dir_of_runs(args.runs)
    out = args.out or os.path.join(args.runs, "eval")
    if data is None:
        raise UsageError("%s: no training run there (no args.json in %s/{%s}); %s"
                         % (args.runs, args.runs, ",".join(RUN_NAMES), describe_runs()))
    if args.table3_only:
        check_output_dir(out)
        rows = table3(args.runs, *reference_vocabulary(data, args.runs))
        with OutputLock(out):
            for line in degenerate_warnings(rows, args.runs.rstrip("/") + "/"):
                print(line, file=sys.stderr)
            atomic_write_text(os.path.join(out, "table3.md"), table3_markdown(rows, is_paper_imdb(data)))
    else:
        evaluate_runs(args.runs, lm, data, out, args.sample, args.seed, args.device, args.progress)
    for name in ("table3.md",) if args.table3_only else ("table3.md", "table1.md"):
        with open(os.path.join(out, name)) as f:
            print(f.read())
    print("written to %s (%s)" % (out, "table3.md" if args.table3_only
                                   else "results.json, table1.md, table3.md, examples.jsonl"))
    return 0


def evaluate_runs(runs_dir, lm_path, data_dir, out, sample=200, seed=0, device_spec=-1, progress=True):
    """Table 3 and Table 1 of ``runs_dir`` into ``out``; every input is checked before the work starts,
    and the outputs are written (atomically) only when everything is computed."""
    check_output_dir(out)
    device = get_device(device_spec)
    data = PreparedData(data_dir)
    rows = table3(runs_dir, data.vocab.hash, data_dir)
    comparable = is_paper_imdb(data_dir)
    perturbed = [row.name for row in methods.perturbed_rows()]
    present = [name for name in perturbed if os.path.isfile(os.path.join(runs_dir, name, "best_model.npz"))]
    if not present:
        raise UsageError("%s: no adversarial run (%s with best_model.npz) to evaluate" % (runs_dir, "/".join(perturbed)))
    lm = load_lm(lm_path, data, device)
    runs = {name: load_run(os.path.join(runs_dir, name), data, device) for name in present}
    lm_terms = {name: LMTerm.from_config(runs[name][1], data, device) for name in present}
    with OutputLock(out):   # every input checked: from here on this process is the only writer of out
        return _evaluate_into(out, runs_dir, lm_path, data, device, rows, comparable, runs, lm, lm_terms,
                              sample, seed, progress)


def _evaluate_into(out, runs_dir, lm_path, data, device, rows, comparable, runs, lm, lm_terms, sample, seed,
                   progress):
    from tqdm import tqdm

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
    atomic_write_text(os.path.join(out, "table1.md"), table1_markdown(table, len(reviews), seed, comparable))
    atomic_write_text(os.path.join(out, "examples.jsonl"), "".join(examples))
    atomic_write_json(os.path.join(out, "results.json"), results)   # last: its presence means "done"
    return results

