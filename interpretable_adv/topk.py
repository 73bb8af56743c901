"""The top-k engine: exact cosine nearest neighbours of embedding rows, in blocks, without a V x V matrix.

:func:`top_k_cosine` computes, for given query rows of a unit-norm matrix,
their ``k`` most similar rows ``block_size`` queries at a time into one reused
buffer; :func:`top_k_rows` selects each row's top ``k`` without sorting whole
rows. :mod:`interpretable_adv.adversarial` (``nearest_neighbors``) and the
lazy neighbour table (:mod:`interpretable_adv.neighbors`) use it; the SPGD
mask's own top-k lives with the equations and its CUDA kernel in
:mod:`interpretable_adv.kernels`.
"""

import numpy as np

_TINY = 1e-12


def array_module(array):
    """NumPy or CuPy, whichever ``array`` belongs to (NumPy when CuPy is absent)."""
    try:
        import cupy
        return cupy.get_array_module(array)
    except ImportError:
        return np


def normalized_rows(embeddings):
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    xp = array_module(embeddings)
    norms = xp.sqrt((embeddings * embeddings).sum(axis=1, keepdims=True))
    return embeddings / xp.maximum(norms, _TINY)



CHUNK = 64



def top_k_rows(sims, k):
    """Exact top-``k`` column ids of each row of ``sims`` (B, V), by decreasing value, ties to the smaller id.

    Selection without sorting or arg-partitioning whole rows: the ``V`` columns
    (padded to a multiple of 64) are split into ``n = V / 64`` strided groups,
    group ``c`` holding columns ``c, c + n, c + 2n, ...``, and the ``k`` groups
    with the largest maxima are kept. Every one of the row's ``k`` largest
    values lies in a group whose maximum is at least the k-th largest value,
    and there are at most ``k`` such groups, so the answer is among those
    ``64 k`` candidates. (Strided rather than contiguous groups because the
    group maxima are then an element-wise maximum over 64 contiguous slices of
    the row, which is about 5x faster than reducing 64-wide runs.) A tie at the
    k-th value (which could hide an equal value with a smaller id elsewhere) is
    detected and that row is redone exactly.
    """
    xp = array_module(sims)
    batch, width = sims.shape
    padded_width = -(-width // CHUNK) * CHUNK
    if padded_width != width:
        sims = xp.concatenate([sims, xp.full((batch, padded_width - width), -xp.inf, sims.dtype)], axis=1)
    n_groups = padded_width // CHUNK
    groups = sims.reshape(batch, CHUNK, n_groups)                   # [b, j, c] = column c + n j
    group_max = groups.max(axis=1)
    take = min(k, n_groups)
    best = xp.argpartition(-group_max, take - 1, axis=1)[:, :take] if take < n_groups \
        else xp.broadcast_to(xp.arange(n_groups), (batch, n_groups))
    best = xp.sort(best, axis=1)
    # Laid out (j, c) with c ascending, the candidate ids c + n j are ascending, so the stable
    # sort below sends equal values to the smaller id.
    candidate_ids = (best[:, None, :] + n_groups * xp.arange(CHUNK)[None, :, None]).reshape(batch, -1)
    candidate_values = xp.take_along_axis(groups, best[:, None, :], axis=2).reshape(batch, -1)
    order = xp.argsort(-candidate_values, axis=1, kind="stable")[:, :k]
    top = xp.take_along_axis(candidate_ids, order, axis=1)
    kth = xp.take_along_axis(candidate_values, order[:, -1:], axis=1)
    # Every value >= kth lies in a group whose maximum is >= kth; if more such groups exist
    # than were taken, an equal value with a smaller id may be outside: redo that row exactly.
    tied = xp.flatnonzero((group_max >= kth).sum(axis=1) > take)
    for i in tied.tolist():
        candidates = xp.flatnonzero(sims[i] >= kth[i, 0])
        exact = xp.lexsort(xp.stack([candidates, -sims[i, candidates]]))[:k]
        top[i] = candidates[exact]
    return top



def pad_to_groups(unit):
    """``unit`` with zero rows appended up to a multiple of 64 rows (the group count of :func:`top_k_rows`).

    :func:`top_k_cosine` pads on every call; a caller that queries the same
    matrix many times (the lazy neighbour table) pads once and passes
    ``n_vocab``.
    """
    xp = array_module(unit)
    rows = -(-unit.shape[0] // CHUNK) * CHUNK
    if rows == unit.shape[0]:
        return unit
    padded = xp.zeros((rows, unit.shape[1]), unit.dtype)
    padded[:unit.shape[0]] = unit
    return padded



CPU_BLOCK, GPU_BLOCK = 64, 2048


def top_k_cosine(unit, rows, k, exclude_self=True, block_size=None, n_vocab=None):
    """Cosine top-``k`` over the first ``n_vocab`` rows of ``unit`` (V, D) for the words ``rows``: (len(rows), k) int32.

    ``unit`` holds unit-norm rows; rows from ``n_vocab`` on (default: none) are
    padding and never returned. Computed ``block_size`` query rows at a time
    into one reused buffer (``4 * block_size * V`` bytes) with
    :func:`top_k_rows`; by default 64 rows on a CPU (the buffer stays near the
    cache) and 2048 on a GPU (fewer, larger launches). Neighbours are ordered
    by decreasing similarity; equal similarities go to the smaller id.
    """
    xp = array_module(unit)
    block_size = block_size or (CPU_BLOCK if xp is np else GPU_BLOCK)
    rows = xp.asarray(rows, dtype=xp.int64)
    n_vocab = unit.shape[0] if n_vocab is None else n_vocab
    limit = n_vocab - 1 if exclude_self else n_vocab
    if not 1 <= k <= limit:
        raise ValueError("k must be in [1, %d] for a vocabulary of %d words, got %d" % (limit, n_vocab, k))
    out = xp.empty((len(rows), k), dtype=xp.int32)
    padded = pad_to_groups(unit)
    buffer = xp.empty((min(block_size, max(len(rows), 1)), padded.shape[0]), unit.dtype)
    for start in range(0, len(rows), block_size):
        block = rows[start:start + block_size]
        sims = buffer[:len(block)]
        xp.matmul(padded[block], padded.T, out=sims)
        sims[:, n_vocab:] = -xp.inf
        if exclude_self:
            sims[xp.arange(len(block)), block] = -xp.inf
        out[start:start + len(block)] = top_k_rows(sims, k)
    return out

