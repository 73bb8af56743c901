"""``iadv evaluate``: Table 3 from a set of runs, and Table 1 on a fixed sample of test reviews.

The work is :func:`interpretable_adv.reports.evaluation.evaluate_runs` (and
``collect_table3`` for ``--table3-only``): every input checked before it
starts, the outputs written atomically, ``results.json`` last.
"""

import os

from interpretable_adv.errors import UsageError
from interpretable_adv.keys import add_device_flag, flag_type
from interpretable_adv.reports.evaluation import collect_table3, evaluate_runs
from interpretable_adv.runs import DEFAULT_RUNS, RUN_NAMES, data_dir_of_runs, describe_runs, lm_of_runs, one_seed_runs

HELP = "Table 3 from the runs and Table 1 (LM perplexity of adversarial examples)"


def add_arguments(parser):
    parser.add_argument("--runs", default=DEFAULT_RUNS,
                        help="one seed's runs (baseline/, pretrained/, advt/, ...: `iadv methods` lists the rows; "
                             "default: %(default)s, where `make reproduce-small` writes seed 0)")
    parser.add_argument("--lm", default=None,
                        help="pretrained LM (default: the one the runs were initialised from, else RUNS/lm/lm.npz "
                             "or RUNS/../lm/lm.npz)")
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
    one_seed_runs(args.runs)
    lm = args.lm or lm_of_runs(args.runs)
    data = args.data or data_dir_of_runs(args.runs)
    out = args.out or os.path.join(args.runs, "eval")
    if data is None:
        raise UsageError("%s: no training run there (no args.json in %s/{%s}); %s"
                         % (args.runs, args.runs, ",".join(RUN_NAMES), describe_runs()))
    if args.table3_only:
        collect_table3(args.runs, data, out)
    else:
        evaluate_runs(args.runs, lm, data, out, args.sample, args.seed, args.device, args.progress)
    for name in ("table3.md",) if args.table3_only else ("table3.md", "table1.md"):
        with open(os.path.join(out, name)) as f:
            print(f.read())
    print("written to %s (%s)" % (out, "table3.md" if args.table3_only
                                   else "results.json, table1.md, table3.md, examples.jsonl"))
    return 0
