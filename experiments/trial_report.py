#!/usr/bin/env python
"""The verdict and the bill of a trial run (experiments/paper_trial.sh): did Pretrained leave chance, and how long
will the full reproduction take on this machine?

    python experiments/trial_report.py --runs runs/paper-trial [--min-dev 0.6]

Reads the trial's LM (RUNS/lm) and classifiers (RUNS/seed0/ROW), each trained for a few hundred updates. For each
stage, the full run's training time = the preset's epochs x the full training set's tokens / the training
throughput the trial measured (Chainer's ``main/tokens_per_sec`` in the run's log; dev and test evaluation,
checkpoints and start-up are not included, about 5-10% more at the small size). Prints hours per stage and the
totals for 1, 3 and 5 seeds (the LM is trained once), and exits 1 when Pretrained did not leave chance (best dev
accuracy under ``--min-dev``, or more than ``--max-share`` (90%) of dev reviews in one class), with what to do.
"""

import argparse
import os
import sys

import numpy as np

from interpretable_adv import methods
from interpretable_adv.checkpoints import run_config
from interpretable_adv.data import PreparedData
from interpretable_adv.files import read_json
from interpretable_adv.presets import load_preset
from interpretable_adv.reports.table3 import DEGENERATE_SHARE


def training_speed(run_dir):
    """Mean training tokens per second: a classifier's results.json holds it; an LM's is read from its log."""
    speed = _results(run_dir).get("tokens_per_sec_mean")
    if speed:
        return float(speed)
    speeds = [entry["main/tokens_per_sec"] for entry in read_json(os.path.join(run_dir, "log"), "Chainer log")
              if isinstance(entry, dict) and "main/tokens_per_sec" in entry]
    if not speeds:
        raise SystemExit("%s: no main/tokens_per_sec in its log (did the trial finish?)" % run_dir)
    return float(np.mean(speeds))


def lm_hours(run_dir):
    """Full LM training hours: the preset's epochs over the whole token stream at the trial's speed."""
    config, results = run_config(run_dir), _results(run_dir)
    epochs = load_preset(config["preset"], "pretrain")["epoch"]
    return epochs * results["train_tokens"] / training_speed(run_dir) / 3600.0


def classifier_hours(run_dir):
    """Full classifier training hours: the preset's epochs over every training review at the trial's speed."""
    config, results = run_config(run_dir), _results(run_dir)
    full = load_preset(config["preset"], "train")
    n_full = len(PreparedData(config["data"]).split("train"))
    if full.get("max_train_examples"):
        n_full = min(n_full, full["max_train_examples"])
    tokens = results["train_tokens_per_epoch"] * n_full / results["train_examples"]
    return full["epoch"] * tokens / training_speed(run_dir) / 3600.0


def _results(run_dir):
    path = os.path.join(run_dir, "results.json")
    if not os.path.isfile(path):
        raise SystemExit("%s: no results.json (the trial stage did not finish)" % run_dir)
    return read_json(path, "run results")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the trial's run set (RUNS of paper_trial.sh)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-dev", type=float, default=0.6,
                        help="Pretrained's best dev accuracy must reach this to count as off the plateau")
    parser.add_argument("--max-share", type=float, default=DEGENERATE_SHARE,
                        help="... and put at most this share of dev reviews in one class (Table 3's DEGENERATE mark)")
    args = parser.parse_args(argv)

    seed_dir = os.path.join(args.runs, "seed%d" % args.seed)
    rows = [row for row in methods.rows() if os.path.isfile(os.path.join(seed_dir, row.name, "results.json"))]
    hours = {"lm": lm_hours(os.path.join(args.runs, "lm"))}
    hours.update({row.name: classifier_hours(os.path.join(seed_dir, row.name)) for row in rows})
    per_seed = sum(hours[row.name] for row in rows)
    print("| stage | trial updates | estimated full training (h) |")
    print("|---|---|---|")
    print("| LM (once) | %d | %.2f |" % (_results(os.path.join(args.runs, "lm"))["iterations"], hours["lm"]))
    for row in rows:
        print("| %s | %s | %.2f |" % (row.title, _updates(os.path.join(seed_dir, row.name)), hours[row.name]))
    print("\n| seeds | estimated total (h) |\n|---|---|")
    for seeds in (1, 3, 5):
        print("| %d | %.2f |" % (seeds, hours["lm"] + seeds * per_seed))
    print("\n(training only, from this machine's trial throughput; dev/test evaluation and start-up not included)")

    pretrained = os.path.join(seed_dir, "pretrained")
    if not os.path.isfile(os.path.join(pretrained, "results.json")):
        print("\nno Pretrained row in the trial: the plateau check needs it", file=sys.stderr)
        return 1
    result = _results(pretrained)
    dev, share = result["dev_accuracy_best"], result["dev_majority_share_best"]
    print("\nPretrained after the trial: best dev accuracy %.2f%%, largest one-class share of dev %.1f%%"
          % (100 * dev, 100 * share))
    if dev < args.min_dev or share > args.max_share:
        warmup = run_config(pretrained)["lr_warmup"]
        advice = ("The run had no alpha warm-up (lr_warmup 0, as Appendix B); at the small size that left Pretrained "
                  "at chance (docs/results.md, section 2). Rerun the trial with TRAIN_FLAGS=\"--lr-warmup 1000\" "
                  "(the small preset's) before the full run, and report the deviation." if not warmup else
                  "The run already warmed alpha up over %d updates; give the trial more (TRIAL_UPDATES) before "
                  "concluding, and look at the LM's dev perplexity." % warmup)
        print("PLATEAU: Pretrained did not leave chance in the trial (dev %.2f%% < %.0f%% or one class > %.0f%%). %s"
              % (100 * dev, 100 * args.min_dev, 100 * args.max_share, advice), file=sys.stderr)
        return 1
    print("trial passed: Pretrained left chance")
    return 0


def _updates(run_dir):
    """Updates the trial ran: an epoch of its training subset, in batches."""
    config, results = run_config(run_dir), _results(run_dir)
    return -(-results["train_examples"] // config["batchsize"]) * config["epoch"]


if __name__ == "__main__":
    sys.exit(main())
