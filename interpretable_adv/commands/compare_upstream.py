"""``iadv compare-upstream``: one of our runs beside upstream iAdvT training logs (comparison.md + plot)."""

import os

from interpretable_adv.runs import data_dir_of_run
from interpretable_adv.upstream.comparison import write_comparison
from interpretable_adv.upstream.logs import parse_our_run, parse_upstream

HELP = "our run beside upstream iAdvT logs: comparison.md + plot"


def add_arguments(parser):
    parser.add_argument("--ours", required=True, help="our run directory (of `iadv train`)")
    parser.add_argument("--upstream", nargs="+", required=True, metavar="LOG",
                        help="upstream training log(s), or directories of upstream checkpoints "
                             "({name}_{epoch}_dev_acc_{dev}_test_acc_{test}.model) when the log is lost")
    parser.add_argument("--out", "-o", default=None, help="output directory (default: OURS/comparison)")
    parser.add_argument("--data", default=None,
                        help="prepared dataset whose train split sets upstream's tokens per epoch "
                             "(default: the one our run used)")


def run(args):
    ours = parse_our_run(args.ours)
    upstream = [run for path in args.upstream for run in parse_upstream(path)]
    names = [r.name for r in [ours] + upstream]
    if len(set(names)) != len(names):
        for i, run in enumerate(upstream, 1):
            run.name = "upstream%d:%s" % (i, run.name)
    # Upstream trains on every training review, whole: its tokens per epoch are the train split's
    # (of --data, else of the dataset our run used), not our run's (which may be capped).
    data = args.data or data_dir_of_run(args.ours)
    tokens = None
    if data and os.path.isfile(os.path.join(data, "train.npz")):
        from interpretable_adv.data import PreparedData
        tokens = int(len(PreparedData(data).split("train").tokens))
    out = args.out or os.path.join(args.ours, "comparison")
    written = write_comparison(ours, upstream, out, tokens)
    with open(written[0]) as f:
        print(f.read())
    print("written: %s" % ", ".join(written))
    return 0
