"""``iadv synthetic``: write a small synthetic aclImdb-like corpus (offline demos and tests)."""

import os
import sys

from data_prep.synthetic_corpus import LABELED_IDS, UNLABELED_IDS, write_synthetic_corpus
from interpretable_adv.locking import OutputLock
from interpretable_adv.keys import flag_type

HELP = "write a small synthetic aclImdb-like corpus (offline demos, tests)"


def add_arguments(parser):
    # File ids are drawn without repetition from 0..12499 (labeled, per class) and 0..49999 (unlabeled),
    # the real ranges; every group needs a review for `iadv prepare`, hence the bounds.
    parser.add_argument("--out", "-o", default=os.path.join("runs", "data", "synthetic_raw"),
                        help="directory to write aclImdb/ into (default: %(default)s)")
    parser.add_argument("--train", type=flag_type("int", low=1, high=LABELED_IDS), default=200,
                        help="training reviews per class (1..%d)" % LABELED_IDS)
    parser.add_argument("--test", type=flag_type("int", low=1, high=LABELED_IDS), default=200,
                        help="test reviews per class (1..%d)" % LABELED_IDS)
    parser.add_argument("--unsup", type=flag_type("int", low=1, high=UNLABELED_IDS), default=400,
                        help="unlabeled reviews (1..%d)" % UNLABELED_IDS)
    parser.add_argument("--noise", type=flag_type("float", low=0.0, high=1.0), default=0.1,
                        help="probability of one opposite sentiment word, in [0, 1]")
    parser.add_argument("--seed", type=flag_type("int", low=0, high=2 ** 32 - 1), default=0, help="random seed (>= 0)")


def run(args):
    try:
        with OutputLock(args.out):   # two corpora written into one directory would mix their reviews
            path = write_synthetic_corpus(args.out, args.train, args.test, args.unsup, noise=args.noise,
                                          seed=args.seed)
    except OSError as exc:
        print("iadv synthetic: error: %s: cannot write (%s)" % (exc.filename or args.out, exc.strerror or exc),
              file=sys.stderr)
        return 2
    print(path)
    return 0

