#!/usr/bin/env python
"""Training throughput of the classifier (per method) and of the language model (per softmax).

    python experiments/bench_train.py --data runs/data/imdb --sizes small paper \\
        --methods baseline advt iadvt spgd --steps 5 --lm

Real IMDB batches (length-bucketed as in training), random initialisation, one
warm-up update, then ``--steps`` timed updates. iAdvT/SPGD refresh the
neighbour table once before timing, so the timed steps include computing the
neighbour rows their batches need (the start of a 50-iteration window: an
upper bound on the amortised cost). Prints one JSON line per measurement.
"""

import argparse
import json
import time

import chainer
import numpy as np

from interpretable_adv.data import PreparedData
from interpretable_adv.iterators import BucketIterator, ReviewDataset, StreamIterator
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.nets import ClassifierLoss
from interpretable_adv.presets import resolve
from interpretable_adv.training.classifier import build_classifier, make_updater
from interpretable_adv.training.lm import (
    TBPTTUpdater,
    build_language_model,
    training_tokens,
)


def _time_updates(updater, steps, count_tokens):
    updater.update()
    total_tokens, start = 0, time.perf_counter()
    for _ in range(steps):
        total_tokens += count_tokens(updater)
        updater.update()
    seconds = time.perf_counter() - start
    return total_tokens, seconds


def bench_classifier(data, size, method, steps, device):
    config = resolve(size, "train", {"data": data.directory, "method": method, "device": device})
    chainer.global_config.train = True
    np.random.seed(0)
    model = build_classifier(config, len(data.vocab))
    dev = chainer.get_device("@numpy" if str(device) == "-1" else device)
    model.to_device(dev)
    loss = ClassifierLoss(model)
    optimizer = chainer.optimizers.Adam(alpha=config["lr"])
    optimizer.setup(loss)
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))
    train = ReviewDataset(data.split("train"), config["max_length"])
    iterator = BucketIterator(train, config["batchsize"], bucket_batches=config["bucket_batches"], seed=0)
    neighbors = None
    if method in ("iadvt", "spgd"):
        neighbors = NeighborTable(config["n_neighbors"], config["neighbor_mode"])
        neighbors.refresh(model.embed.W.array)
    updater = make_updater(config, iterator, optimizer, dev, neighbors)

    def count(u):  # tokens of the batch the next update will draw
        batch = iterator._batches[iterator.current_position]
        return int(train.lengths[batch].sum())

    reporter = chainer.Reporter()
    reporter.add_observer("main", loss)
    with reporter.scope({}):
        tokens, seconds = _time_updates(updater, steps, count)
    return {"kind": "classifier", "size": size, "method": method, "steps": steps,
            "batchsize": config["batchsize"], "tokens": tokens, "seconds": round(seconds, 2),
            "tokens_per_sec": round(tokens / seconds, 1), "sec_per_step": round(seconds / steps, 3),
            "neighbor_rows": neighbors.rows_computed if neighbors else 0}


def bench_lm(data, size, softmax, steps, device):
    config = resolve(size, "pretrain", {"data": data.directory, "softmax": softmax, "device": device})
    np.random.seed(0)
    model = build_language_model(config, len(data.vocab))
    dev = chainer.get_device("@numpy" if str(device) == "-1" else device)
    model.to_device(dev)
    optimizer = chainer.optimizers.Adam(alpha=config["lr"])
    optimizer.setup(model)
    optimizer.add_hook(chainer.optimizer_hooks.GradientClipping(config["grad_clip"]))
    tokens = training_tokens(data, 2_000_000, 0)
    iterator = StreamIterator(tokens, config["batchsize"], config["bptt_len"])
    updater = TBPTTUpdater(iterator, optimizer, dev)
    reporter = chainer.Reporter()
    reporter.add_observer("main", model)
    with reporter.scope({}):
        n, seconds = _time_updates(updater, steps, lambda u: config["batchsize"] * config["bptt_len"])
    return {"kind": "lm", "size": size, "softmax": softmax, "steps": steps, "tokens": n,
            "seconds": round(seconds, 2), "tokens_per_sec": round(n / seconds, 1),
            "sec_per_step": round(seconds / steps, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="runs/data/imdb")
    parser.add_argument("--sizes", nargs="+", default=["small"])
    parser.add_argument("--methods", nargs="*", default=["baseline", "advt", "iadvt", "spgd"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--lm", action="store_true", help="also the LM, adaptive and full softmax")
    parser.add_argument("--lm-softmax", nargs="+", default=["adaptive", "full"])
    parser.add_argument("--device", default="-1")
    args = parser.parse_args()
    data = PreparedData(args.data)
    for size in args.sizes:
        if args.lm:
            for softmax in args.lm_softmax:
                print(json.dumps(bench_lm(data, size, softmax, args.steps, args.device)), flush=True)
        for method in args.methods:
            print(json.dumps(bench_classifier(data, size, method, args.steps, args.device)), flush=True)


if __name__ == "__main__":
    main()
