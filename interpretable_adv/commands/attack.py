"""``iadv attack``: Table 4, every model of one seed under one common word-substitution attack (robust accuracy).

The work is :func:`interpretable_adv.reports.table4.attack_runs`; the attack
itself is :mod:`interpretable_adv.reports.word_substitution`. Writes
``RUNS/attack/{table4.md, examples.jsonl, results.json}`` (``results.json``
last); ``iadv summarize`` puts the seeds together.
"""

import os

from interpretable_adv.errors import UsageError
from interpretable_adv.keys import add_device_flag, flag_type
from interpretable_adv.reports.word_substitution import AttackSettings
from interpretable_adv.reports.table4 import attack_runs
from interpretable_adv.runs import DEFAULT_RUNS, RUN_NAMES, data_dir_of_runs, describe_runs, lm_of_runs, one_seed_runs

HELP = "Table 4: robust accuracy of every model of one seed under one common word-substitution attack"
DEFAULTS = AttackSettings()


def add_arguments(parser):
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="one seed's runs (default: %(default)s)")
    parser.add_argument("--lm", default=None,
                        help="pretrained LM: candidate words and perplexities (default: the one the runs were "
                             "initialised from)")
    parser.add_argument("--data", default=None, help="prepared dataset (default: the one the runs used)")
    parser.add_argument("--out", "-o", default=None, help="output directory (default: RUNS/attack)")
    parser.add_argument("--sample", type=flag_type("int", low=1), default=200, help="number of test reviews")
    parser.add_argument("--seed", type=flag_type("int", low=0, high=2 ** 32 - 1), default=0,
                        help="seed of the sample (Table 1's default: the same reviews)")
    parser.add_argument("--candidates", "-k", type=flag_type("int", low=1), default=DEFAULTS.n_candidates,
                        help="K: each word's nearest neighbours in the LM's embedding space that may replace it")
    parser.add_argument("--max-share", type=flag_type("float", low=0.0, high=1.0), default=DEFAULTS.max_share,
                        help="budget: at most this share of a review's words changed (at least one)")
    parser.add_argument("--top", type=flag_type("int", low=1), default=DEFAULTS.top,
                        help="substitutions the model scores per step (the best first-order ones)")
    parser.add_argument("--max-ppl-ratio", type=flag_type("float", low=1.0), default=1.1,
                        help="LM filter: a candidate review's perplexity may be at most this x the original's")
    parser.add_argument("--no-lm-filter", dest="max_ppl_ratio", action="store_const", const=None,
                        help="no LM filter (any candidate word is admissible)")
    add_device_flag(parser)
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def run(args):
    if args.max_share <= 0:
        raise UsageError("--max-share %g: the budget must be above 0" % args.max_share)
    one_seed_runs(args.runs)
    data = args.data or data_dir_of_runs(args.runs)
    if data is None:
        raise UsageError("%s: no training run there (no args.json in %s/{%s}); %s"
                         % (args.runs, args.runs, ",".join(RUN_NAMES), describe_runs()))
    settings = AttackSettings(n_candidates=args.candidates, max_share=args.max_share, top=args.top,
                              max_ppl_ratio=args.max_ppl_ratio)
    out = args.out or os.path.join(args.runs, "attack")
    attack_runs(args.runs, args.lm or lm_of_runs(args.runs), data, out, settings, args.sample, args.seed,
                args.device, args.progress)
    with open(os.path.join(out, "table4.md")) as f:
        print(f.read())
    print("written to %s (results.json, table4.md, examples.jsonl)" % out)
    return 0
