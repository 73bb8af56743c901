"""``iadv interpret``: one test review and its adversarial versions, changed words marked (and a heatmap)."""

import os
import sys

import numpy as np

from interpretable_adv import methods
from interpretable_adv.checkpoints import load_lm
from interpretable_adv.data import LABEL_NAMES, PreparedData
from interpretable_adv.errors import UsageError
from interpretable_adv.keys import add_device_flag, flag_type
from interpretable_adv.reports.examples import mark, perturbed_review
from interpretable_adv.reports.table1 import MOVED_SHARE_THRESHOLD
from interpretable_adv.runs import DEFAULT_RUNS, data_dir_of_runs, describe_runs, get_device, lm_of_runs, one_seed_runs

HELP = "show a test review and its adversarial versions (changed words marked)"


def add_arguments(parser):
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="one seed's runs (default: %(default)s)")
    parser.add_argument("--index", "-i", type=flag_type("int", low=0), default=0, help="test review index")
    parser.add_argument("--lm", default=None, help="LM for the perplexities (default: the one the runs were "
                        "initialised from, else RUNS/lm/lm.npz or RUNS/../lm/lm.npz)")
    parser.add_argument("--data", default=None, help="prepared dataset (default: the runs')")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour changed words (auto: only in a terminal; otherwise [[word]])")
    parser.add_argument("--figure", default=None, type=figure_path,
                        help="also write a Figure 2-4 style heatmap (.png, .pdf or .svg)")
    add_device_flag(parser)


def figure_path(text):
    """argparse ``type=`` for ``--figure``: a path whose extension matplotlib writes."""
    import argparse

    from interpretable_adv.reports.plots import FIGURE_FORMATS

    extension = os.path.splitext(text)[1].lower().lstrip(".")
    if extension not in FIGURE_FORMATS:
        raise argparse.ArgumentTypeError("%r: the file name must end in %s"
                                         % (text, ", ".join("." + f for f in FIGURE_FORMATS)))
    return text



def run(args):
    device = get_device(args.device)
    one_seed_runs(args.runs)
    data_dir = args.data or data_dir_of_runs(args.runs)
    if data_dir is None:
        raise UsageError("%s: no training run there; %s" % (args.runs, describe_runs()))
    data = PreparedData(data_dir)
    if not 0 <= args.index < len(data.split("test")):
        raise UsageError("--index must be in [0, %d), got %d" % (len(data.split("test")), args.index))
    if args.figure and not os.path.isdir(os.path.dirname(os.path.abspath(args.figure))):
        raise UsageError("--figure %s: its directory does not exist" % args.figure)
    lm = load_lm(args.lm or lm_of_runs(args.runs), data, device)
    tokens, records = perturbed_review(args.runs, data, args.index, lm, device)
    color = {"always": True, "never": False}.get(args.color, sys.stdout.isatty())
    label = LABEL_NAMES[int(data.split("test").labels[args.index])]
    print("test review %d (%s), %d tokens" % (args.index, label, len(tokens)))
    print("original:  " + " ".join(tokens))
    for method, record in records.items():
        norms = np.asarray(record["norms"])
        moved = int((np.asarray(record["relative_norms"]) > MOVED_SHARE_THRESHOLD).sum())
        print("\n%s: ||d|| = %.2f, %d of %d words perturbed (%d moved by more than %g%% of their embedding's "
              "norm), prediction %s -> %s (continuous), %s (direction)" % (
                  methods.short_title(method), float(np.sqrt((norms ** 2).sum())), int((norms > 0).sum()),
                  len(norms), moved, 100 * MOVED_SHARE_THRESHOLD, record["pred_original"],
                  record["pred_continuous"], record["pred_direction"]))
        print("  direction: " + mark(record["direction_words"], tokens, color))
        print("  nearest:   " + mark(record["nearest_words"], tokens, color))
    if args.figure:
        from interpretable_adv.reports.plots import heatmap_figure
        heatmap_figure(tokens, records, args.figure,
                       title="test review %d (%s), runs %s" % (args.index, label, args.runs))
        print("\nheatmap written to %s" % args.figure)
    return 0

