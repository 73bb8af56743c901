"""Embedding norms of a language model (or classifier) checkpoint: what an eps has to be compared with.

Prints the token-weighted mean ||E[w]|| over the training split's tokens (every
occurrence counts), the type-weighted mean over the vocabulary, the median, the
norm of ``<eos>``, and the means over frequency bands.

    python experiments/embedding_norms.py runs/small/lm/lm.npz --data runs/data/imdb
"""

import argparse
import json

import numpy as np

from interpretable_adv.data import EOS_ID, PreparedData


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="lm.npz or best_model.npz (reads embed/W or predictor/embed/W)")
    parser.add_argument("--data", default="runs/data/imdb")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with np.load(args.checkpoint, allow_pickle=False) as z:
        key = next(k for k in ("embed/W", "predictor/embed/W") if k in z.files)
        embeddings = z[key]
    data = PreparedData(args.data)
    norms = np.sqrt((embeddings.astype(np.float64) ** 2).sum(axis=1))
    counts = np.bincount(data.split("train").tokens, minlength=len(norms))
    report = {"dim": int(embeddings.shape[1]), "token_weighted_mean": float((norms * counts).sum() / counts.sum()),
              "type_mean": float(norms.mean()), "median": float(np.median(norms)), "eos": float(norms[EOS_ID])}
    for low, high in ((2, 100), (100, 2000), (2000, 10000), (10000, len(norms))):
        report["ids %d-%d" % (low, high)] = float(norms[low:high].mean())
    for key, value in report.items():
        print("%-22s %s" % (key, value if isinstance(value, int) else "%.3f" % value))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
