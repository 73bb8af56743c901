"""``iadv summarize``: Tables 3 and 1 over seeds (RUNS/seedN/...) as mean +- sd, every seed shown.

Writes RUNS/eval/{table3.md, table1.md, summary.json, table3.png}; degenerate
models are flagged.
"""

import os

from interpretable_adv.reports.seed_summary import summarize

HELP = "Tables 3 and 1 over seeds (RUNS/seedN/...): mean +- sd"


def add_arguments(parser):
    parser.add_argument("--runs", default=os.path.join("runs", "small"), help="directory holding seedN/")
    parser.add_argument("--data", default=None, help="prepared dataset (default: the one the runs used)")
    parser.add_argument("--out", "-o", default=None, help="output directory (default: RUNS/eval)")


def run(args):
    out = args.out or os.path.join(args.runs, "eval")
    summary = summarize(args.runs, out, args.data)
    names = ("table3.md", "table1.md") if summary["table1"] is not None else ("table3.md",)
    for name in names:
        with open(os.path.join(out, name)) as f:
            print(f.read())
    print("written to %s (summary.json, table3.png, %s)" % (out, ", ".join(names)))
    return 0

