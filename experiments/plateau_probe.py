"""What a freshly initialised classifier reads: LSTM states at <eos> and at the last word, per init.

For a Baseline-initialised and an LM-initialised classifier (before any
update), runs training and dev reviews (the preset's ``max_length``) through
the LSTM and reports, for the state read at ``<eos>`` and at the last word:
the mean |h|, the across-review standard deviation per unit (averaged), the
mean |c|, and the dev accuracy of a logistic-regression probe trained on the
training states (how much of the label the state carries linearly).

    python experiments/plateau_probe.py --lm runs/small/lm/lm.npz --data runs/data/imdb
"""

import argparse
import json

import chainer
import numpy as np

from interpretable_adv import methods
from interpretable_adv.data import PreparedData
from interpretable_adv.iterators import ReviewDataset
from interpretable_adv.lstm import lstm_sequences
from interpretable_adv.nets import Classifier
from interpretable_adv.checkpoints import load_pretrained


def states(model, dataset, batch=256):
    """(h at <eos>, h at the last word, c at <eos>) for every review of ``dataset``."""
    h_eos, h_last, c_eos = [], [], []
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for start in range(0, len(dataset), batch):
            reviews = [dataset[i][0] for i in range(start, min(start + batch, len(dataset)))]
            inputs = [model.embed(ids) for ids in reviews]
            hy, cy, ys = lstm_sequences(model.rnn, None, None, inputs)
            h_eos.append(hy.array[-1])
            c_eos.append(cy.array[-1])
            h_last.append(np.stack([y.array[-2] for y in ys]))
    return np.concatenate(h_eos), np.concatenate(h_last), np.concatenate(c_eos)


def probe_accuracy(train_x, train_y, dev_x, dev_y, steps=500, lr=0.5):
    """Dev accuracy of an L2-regularised logistic regression fitted by gradient descent (standardised inputs)."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mean) / std, (dev_x - mean) / std
    w, c = np.zeros(a.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(a @ w + c)))
        w -= lr * (a.T @ (p - train_y) / len(a) + 1e-3 * w)
        c -= lr * float(np.mean(p - train_y))
    return float(np.mean(((b @ w + c) > 0) == dev_y))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm", required=True)
    parser.add_argument("--data", default="runs/data/imdb")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--examples", type=int, default=3000)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    from interpretable_adv.presets import resolve
    config = resolve(args.preset, "train", {})
    data = PreparedData(args.data)
    rng = np.random.RandomState(0)
    train_split, dev_split = data.split("train"), data.split("dev")
    train = ReviewDataset(train_split, config["max_length"], np.sort(rng.permutation(len(train_split))[:args.examples]))
    dev = ReviewDataset(dev_split, config["max_length"])
    labels = {name: np.array([ds[i][1] for i in range(len(ds))]) for name, ds in (("train", train), ("dev", dev))}
    report = {}
    for row in (r for r in methods.rows(("paper",)) if not methods.get(r.method).adversarial):   # the two inits
        init = row.name
        np.random.seed(0)
        model = Classifier(len(data.vocab), config["embed_dim"], config["hidden_dim"], config["fc_dim"],
                           dropout=config["dropout"])
        if row.pretrained:
            load_pretrained(model, args.lm, data.vocab.hash)
        tr, dv = states(model, train), states(model, dev)
        for where, k in (("eos", 0), ("last_word", 1)):
            report["%s/%s" % (init, where)] = {
                "mean_abs_h": float(np.abs(tr[k]).mean()),
                "across_review_std": float(tr[k].std(0).mean()),
                "mean_abs_c_eos": float(np.abs(tr[2]).mean()),
                "probe_dev_accuracy": probe_accuracy(tr[k], labels["train"], dv[k], labels["dev"]),
            }
    print("| init / read at | mean abs h | across-review std | mean abs c (eos) | linear probe dev acc |")
    print("|---|---|---|---|---|")
    for key, r in report.items():
        print("| %s | %.3f | %.3f | %.2f | %.1f%% |" % (key, r["mean_abs_h"], r["across_review_std"],
                                                     r["mean_abs_c_eos"], 100 * r["probe_dev_accuracy"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
