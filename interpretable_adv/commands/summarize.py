"""``iadv summarize``: Tables 3, 1 and 4 over seeds (RUNS/seedN/...) as mean +- sd, every seed shown, and which differences are significant.

Writes RUNS/eval/{table3.md, significance.md, table1.md, table4.md,
summary.json, table3.png, table4.png} (Table 1 where seeds have ``iadv
evaluate``'s results, Table 4 where they have ``iadv attack``'s); degenerate
models are flagged. The significance tables pair rows by seed (t interval,
Holm) and, per seed, by test review (exact McNemar), from each run's
``test_predictions.npz`` (computed once from ``best_model.npz`` for runs
older than that file).
"""

import os

from interpretable_adv.keys import add_device_flag
from interpretable_adv.reports.seed_summary import summarize

HELP = "Tables 3, 1 and 4 over seeds (RUNS/seedN/...): mean +- sd, paired significance"


def add_arguments(parser):
    parser.add_argument("--runs", default=os.path.join("runs", "small"), help="directory holding seedN/")
    parser.add_argument("--data", default=None, help="prepared dataset (default: the one the runs used)")
    parser.add_argument("--out", "-o", default=None, help="output directory (default: RUNS/eval)")
    add_device_flag(parser)
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress messages")


def run(args):
    out = args.out or os.path.join(args.runs, "eval")
    summary = summarize(args.runs, out, args.data, args.device, args.progress)
    names = ("table3.md", "significance.md") + (("table1.md",) if summary["table1"] is not None else ()) \
        + (("table4.md",) if summary["table4"] is not None else ())
    for name in names:
        with open(os.path.join(out, name)) as f:
            print(f.read())
    print("written to %s (summary.json, table3.png, %s)" % (out, ", ".join(names)))
    return 0

