#!/usr/bin/env python
"""Regenerate the figures from trained runs: Figures 2-4 heatmaps and Figure 1.

    python figures/make_figures.py --runs runs/small/seed0 --out figures/out --indices 0 1 2 --pair great movie

Figures 2-4: for each test review index, per-token perturbation norms under
AdvT, iAdvT and SPGD (cells: direction word, nearest word in parentheses).
Figure 1: SPGD's step, projection and sparsification on a real two-word review
(``--pair``), computed with the SPGD run's classifier.
"""

import argparse
import os
import sys

from interpretable_adv import methods
from interpretable_adv.checkpoints import load_lm, load_run, run_config
from interpretable_adv.data import PreparedData
from interpretable_adv.files import atomic_write_json
from interpretable_adv.keys import add_device_flag
from interpretable_adv.perturbation import Perturbation
from interpretable_adv.reports.examples import perturbed_review, spgd_two_word_example
from interpretable_adv.reports.plots import figure1, heatmap_figure
from interpretable_adv.runs import DEFAULT_RUNS, get_device, lm_of_runs, one_seed_runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="one seed's runs (default: %(default)s)")
    parser.add_argument("--lm", default=None, help="language model (default: the one the runs were initialised "
                        "from, else RUNS/lm/lm.npz or RUNS/../lm/lm.npz)")
    parser.add_argument("--out", default=os.path.join("figures", "out"))
    parser.add_argument("--indices", type=int, nargs="+", default=[0, 1, 2], help="test review indices")
    parser.add_argument("--pair", nargs=2, default=["great", "movie"], help="the two words of Figure 1")
    parser.add_argument("--label", type=int, default=1, help="label of the two-word review")
    add_device_flag(parser)
    args = parser.parse_args(argv)

    device = get_device(args.device)
    one_seed_runs(args.runs)
    row = methods.sparse_row()   # SPGD's: Figure 1 is its schematic, Figures 2-4 centre on it
    config = run_config(os.path.join(args.runs, row.name))
    data = PreparedData(config["data"])
    os.makedirs(args.out, exist_ok=True)
    lm = load_lm(args.lm or lm_of_runs(args.runs), data, device)
    for index in args.indices:
        tokens, records = perturbed_review(args.runs, data, index, lm, device)
        label = "positive" if data.split("test").labels[index] == 1 else "negative"
        path = heatmap_figure(tokens, records, os.path.join(args.out, "heatmap_test%d.png" % index),
                              title="test review %d (%s), runs %s" % (index, label, args.runs))
        print(path)
    model, _ = load_run(os.path.join(args.runs, row.name), data, device)
    missing = [w for w in args.pair if w not in data.vocab.index]
    if missing:
        print("figure 1 skipped: %s not in the vocabulary" % ", ".join(missing), file=sys.stderr)
        return 1
    # The SPGD run's own perturbation (its eps, eps_scale and normalisation); sigma 0.5 keeps one of the two words.
    perturbation = Perturbation.from_config(config, row.method, sigma=0.5)
    example = spgd_two_word_example(model, data.vocab, args.pair, args.label, perturbation, k=config["n_neighbors"])
    atomic_write_json(os.path.join(args.out, "figure1.json"), example)
    print(figure1(example, os.path.join(args.out, "figure1.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
