"""``iadv report``: one self-contained HTML page of a run set: its tables, plots and every adversarial review.

Reads what ``iadv summarize`` (``RUNS/eval``), ``iadv evaluate`` and
``iadv attack`` (``RUNS/seedN/{eval,attack}``), the figures script and
``iadv tune`` (``RUNS/tune``) wrote, and writes ``OUT/index.html``: style,
script, data and images inline, so it opens offline from ``file://``
(:mod:`interpretable_adv.reports.html_report`). Trains and computes nothing.
"""

import os

from interpretable_adv.reports.html_report import write_report

HELP = "one self-contained HTML page of a run set: Tables 3, 1, 4, plots and an example browser"


def add_arguments(parser):
    parser.add_argument("--runs", default=os.path.join("runs", "small"),
                        help="run set: the directory holding seedN/ and eval/summary.json (default: %(default)s)")
    parser.add_argument("--out", "-o", default=None, help="output directory (default: RUNS/report)")
    parser.add_argument("--data", default=None,
                        help="prepared dataset for the words' sentiment leans (default: the one the runs used, "
                             "when it is here)")


def run(args):
    path = write_report(args.runs, args.out, args.data)
    print("report: %s (%.1f MB; open it in a browser: file://%s)"
          % (path, os.path.getsize(path) / 1e6, os.path.abspath(path)))
    return 0
