#!/usr/bin/env python
"""Time and peak memory of the nearest-neighbour refresh (cosine top-K, blocked).

    python experiments/bench_neighbors.py --vocab 87008 --dim 256 -k 15
    python experiments/bench_neighbors.py --vocab 87008 --dim 256 --rows 6000   # lazy: one batch's words

Peak memory is NumPy's allocation peak as seen by tracemalloc (numpy reports
its buffers to it), above what existed before the call.
"""

import argparse
import json
import time
import tracemalloc

import numpy as np

from interpretable_adv.adversarial import normalized_rows, top_k_cosine


def measure(vocab, dim, k, rows=None, block_size=256, seed=0):
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((vocab, dim)).astype(np.float32)
    query = np.arange(vocab) if rows is None else rng.choice(vocab, size=rows, replace=False)
    tracemalloc.start()
    start = time.perf_counter()
    unit = normalized_rows(embeddings)
    top_k_cosine(unit, query, k, True, block_size)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"vocab": vocab, "dim": dim, "k": k, "rows": len(query), "block_size": block_size,
            "seconds": round(seconds, 2), "peak_mib": round(peak / 2 ** 20, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=87008)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("-k", type=int, default=15)
    parser.add_argument("--rows", type=int, default=None, help="query only this many words (lazy refresh)")
    parser.add_argument("--block-size", type=int, default=256)
    args = parser.parse_args()
    print(json.dumps(measure(args.vocab, args.dim, args.k, args.rows, args.block_size)))


if __name__ == "__main__":
    main()
