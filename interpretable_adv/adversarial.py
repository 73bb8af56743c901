"""Adversarial perturbations in embedding space: AdvT, iAdvT and SPGD (DESIGN section 5).

Public API (NumPy or CuPy float32 arrays, no Chainer Variables needed)::

    advt_perturbation(grad, lengths, eps)                                   -> d      (B, T, D)
    nearest_neighbors(embeddings, k, exclude_self=True, block_size=...)     -> ids    (V, k) int32
    neighbor_directions(embeddings, word_ids, neighbor_ids)                 -> u      (B, T, K, D)
    iadvt_perturbation(grad, directions, lengths, eps)                      -> d      (B, T, D)
    spgd_project(r, directions, towards_only=False)                         -> rhat   (B, T, D)
    spgd_sparsify_mask(norms, lengths, sigma)                               -> mask   (B, T) bool
    spgd_perturbation(grad, directions, lengths, eps, sigma, towards_only=False) -> d (B, T, D)
    spgd_from_raw_kept_only(r, lengths, sigma, directions_at, towards_only=False) -> d (B, T, D)

Notation: a batch of B reviews padded to T positions with embedding size D;
``lengths`` (B,) gives each review's length ``L_b``; ``grad`` is dLoss/dx for
the classifier's cross-entropy with the true label. Everything beyond a
review's length is zero in the outputs (and ignored in the inputs).

* AdvT (Miyato et al. 2017, eq. 5): ``d_b = eps g_b / ||g_b||_2`` with the norm
  over the whole review. ``norm='upstream'`` reproduces the upstream iAdvT
  code, ``g / sqrt(1e-6 + ||g||^2)``, which shrinks reviews with a tiny gradient.
* iAdvT (Sato et al. 2018, upstream code): ``G_btk = g_bt . u_btk``,
  ``w = G / ||G_bt,:||`` per token, ``dd_bt = sum_k w_btk u_btk``,
  ``d_b = eps dd_b / ||dd_b||``. ``weights='review'`` normalises the weights over
  the whole review instead (the paper's equation 6).
* SPGD (Barham & Feizi 2019, Algorithm 1, M = 1): ``r`` = AdvT step; per token
  ``k* = argmax_k r_bt . u_btk`` and ``rhat_bt = (r_bt . u_k*) u_k*``; keep the
  ``floor((1 - sigma) L_b)`` positions with the largest raw norms ``||r_bt||``
  (ties: earlier position), zero the rest. The section 4 prose states the
  opposite count; Algorithm 1, Figure 1 and "higher sparsity was better"
  support this reading (see README).
"""


import numpy as np

from interpretable_adv.topk import array_module as _xp
from interpretable_adv.topk import normalized_rows, top_k_cosine

NORMS = ("exact", "upstream")
IADVT_WEIGHTS = ("token", "review")
SPGD_RANKS = ("raw", "projected")
UPSTREAM_NORM_EPS = 1e-6
_TINY = 1e-12


# ----------------------------------------------------------------------------- helpers

def valid_mask(lengths, steps, xp=np):
    """(B, T) bool: True at positions t < L_b."""
    lengths = xp.asarray(lengths)
    return xp.arange(steps)[None, :] < lengths[:, None]


def keep_count(lengths, sigma):
    """``floor((1 - sigma) L_b)`` per review, robust to binary rounding (0.1 * 10 -> 1, not 0)."""
    lengths = np.asarray(lengths) if not hasattr(lengths, "get") else lengths
    xp = _xp(lengths)
    return xp.floor((1.0 - sigma) * lengths.astype(xp.float64) + 1e-9).astype(xp.int32)


def review_norms(values, lengths):
    """Per-review L2 norm (B,) of ``values`` (B, T, ...) over the valid positions."""
    xp = _xp(values)
    mask = valid_mask(lengths, values.shape[1], xp)
    squares = (values * values).reshape(values.shape[0], values.shape[1], -1).sum(axis=2)
    return xp.sqrt((squares * mask).sum(axis=1))


def scale_to_norm(values, lengths, eps, norm="exact"):
    """``eps * v_b / ||v_b||`` per review (zero where ``v_b`` is zero); padding zeroed.

    ``norm='upstream'`` divides by ``sqrt(1e-6 + ||v_b||^2)`` instead.
    """
    if norm not in NORMS:
        raise ValueError("norm must be one of %s, got %r" % (NORMS, norm))
    xp = _xp(values)
    norms = review_norms(values, lengths)
    if norm == "upstream":
        denominator = xp.sqrt(UPSTREAM_NORM_EPS + norms * norms)
    else:
        denominator = xp.where(norms > 0, norms, 1.0)
    factor = (eps / denominator).astype(values.dtype)
    mask = valid_mask(lengths, values.shape[1], xp).astype(values.dtype)
    shape = (values.shape[0], values.shape[1]) + (1,) * (values.ndim - 2)
    return values * (factor[:, None] * mask).reshape(shape)


# ----------------------------------------------------------------------------- AdvT

def advt_perturbation(grad, lengths, eps, norm="exact"):
    """AdvT perturbation ``eps g_b / ||g_b||`` per review (Miyato et al. 2017, eq. 5)."""
    return scale_to_norm(grad, lengths, eps, norm)


# ----------------------------------------------------------------------------- neighbours

def nearest_neighbors(embeddings, k, exclude_self=True, block_size=None):
    """For every word, its ``k`` nearest words by cosine similarity: (V, k) int32.

    Never forms the V x V matrix: similarities are computed ``block_size`` rows
    at a time. ``exclude_self`` drops the word itself.
    """
    xp = _xp(embeddings)
    unit = normalized_rows(embeddings.astype(xp.float32, copy=False))
    return top_k_cosine(unit, xp.arange(unit.shape[0]), k, exclude_self, block_size)


def neighbor_directions(embeddings, word_ids, neighbor_ids):
    """Unit directions ``u_{w,k} = (E[n_k] - E[w]) / ||E[n_k] - E[w]||``: (..., K, D).

    ``word_ids`` has any shape (e.g. (B, T), padded with any id); ``neighbor_ids``
    is the (V, K) table. A zero difference (duplicate embeddings) gives zero.
    """
    xp = _xp(embeddings)
    word_ids = xp.asarray(word_ids)
    diff = embeddings[neighbor_ids[word_ids]] - embeddings[word_ids][..., None, :]
    norms = xp.sqrt((diff * diff).sum(axis=-1, keepdims=True))
    return diff / xp.maximum(norms, _TINY)


# ----------------------------------------------------------------------------- iAdvT

def iadvt_direction(grad, directions, lengths, weights="token"):
    """Unnormalised iAdvT direction ``dd = sum_k w_k u_k`` (B, T, D).

    ``weights='token'`` (upstream): ``w = G / ||G_bt,:||`` per token;
    ``weights='review'`` (paper eq. 6): ``w = G / ||G_b||`` over the whole review.
    """
    if weights not in IADVT_WEIGHTS:
        raise ValueError("weights must be one of %s, got %r" % (IADVT_WEIGHTS, weights))
    xp = _xp(grad)
    mask = valid_mask(lengths, grad.shape[1], xp).astype(grad.dtype)
    coeffs = (directions * grad[:, :, None, :]).sum(axis=-1) * mask[:, :, None]  # (B, T, K)
    if weights == "token":
        norms = xp.sqrt((coeffs * coeffs).sum(axis=-1, keepdims=True))
    else:
        norms = xp.sqrt((coeffs * coeffs).sum(axis=(1, 2), keepdims=True))
    w = coeffs / xp.maximum(norms, _TINY)
    return (w[..., None] * directions).sum(axis=2)


def iadvt_perturbation(grad, directions, lengths, eps, weights="token", norm="exact"):
    """iAdvT perturbation (Sato et al. 2018): ``eps dd_b / ||dd_b||`` with ``dd`` from :func:`iadvt_direction`."""
    return scale_to_norm(iadvt_direction(grad, directions, lengths, weights), lengths, eps, norm)


def iadvt_perturbation_flat(grad, embeddings, word_ids, neighbor_ids, review_of, n_reviews, eps,
                            weights="token", norm="exact"):
    """:func:`iadvt_perturbation` on flat tokens, without the (B, T, K, D) tensor of unit directions.

    ``grad`` (N, D) and ``word_ids`` (N,) hold the batch's N = sum_b L_b tokens
    (no padding), ``review_of`` (N,) each token's review in ``0..n_reviews-1``,
    ``neighbor_ids`` the (V, K) table. With ``e = E[w]``, ``e_k = E[n_k]`` and
    ``n_k = ||e_k - e||``: ``G_k = g . u_k = g . (e_k - e) / n_k`` and
    ``dd = sum_k w_k u_k = sum_k (w_k / n_k) (e_k - e)``, so one (N, K, D)
    array of differences (the gathered neighbour rows, shifted in place) is all
    that is materialised, and only for real tokens. Same result as the padded
    public function up to float rounding.
    """
    if weights not in IADVT_WEIGHTS:
        raise ValueError("weights must be one of %s, got %r" % (IADVT_WEIGHTS, weights))
    xp = _xp(grad)
    diff = embeddings[neighbor_ids[word_ids]]                             # (N, K, D), a fresh gather
    diff -= embeddings[word_ids][:, None, :]
    inverse_norms = 1.0 / xp.maximum(xp.sqrt(xp.einsum("nkd,nkd->nk", diff, diff)), _TINY)
    coeffs = xp.einsum("nkd,nd->nk", diff, grad) * inverse_norms         # G, (N, K)
    squares = (coeffs * coeffs).sum(axis=1)
    if weights == "review":
        squares = xp.bincount(review_of, weights=squares, minlength=n_reviews)[review_of]
    w = coeffs / xp.maximum(xp.sqrt(squares), _TINY)[:, None]
    dd = xp.einsum("nk,nkd->nd", (w * inverse_norms).astype(diff.dtype), diff)
    return scale_flat_to_norm(dd, review_of, n_reviews, eps, norm)


def scale_tokens_to_norm(values, eps):
    """``eps v_t / ||v_t||`` for every token (N, D) separately (a zero row stays zero): upstream VAT's probe."""
    xp = _xp(values)
    norms = xp.sqrt((values * values).sum(axis=1, keepdims=True))
    return values * (eps / xp.where(norms > 0, norms, 1.0)).astype(values.dtype)


def scale_flat_to_norm(values, review_of, n_reviews, eps, norm="exact"):
    """:func:`scale_to_norm` for flat tokens (N, D) with ``review_of`` (N,): ``eps v_b / ||v_b||`` per review."""
    if norm not in NORMS:
        raise ValueError("norm must be one of %s, got %r" % (NORMS, norm))
    xp = _xp(values)
    squares = xp.bincount(review_of, weights=(values * values).sum(axis=1), minlength=n_reviews)
    norms = xp.sqrt(squares)
    if norm == "upstream":
        denominator = xp.sqrt(UPSTREAM_NORM_EPS + squares)
    else:
        denominator = xp.where(norms > 0, norms, 1.0)
    return values * (eps / denominator).astype(values.dtype)[review_of][:, None]


# ----------------------------------------------------------------------------- SPGD

def spgd_project(r, directions, towards_only=False):
    """Per token, the projection of ``r`` on its best neighbour direction (Algorithm 1).

    ``k* = argmax_k r . u_k``; ``rhat = (r . u_k*) u_k*``. With
    ``towards_only`` a negative coefficient is clamped to 0 (never move away).
    """
    xp = _xp(r)
    coeffs = (directions * r[..., None, :]).sum(axis=-1)          # (..., K)
    best = coeffs.argmax(axis=-1)                                  # (..., )
    coeff = xp.take_along_axis(coeffs, best[..., None], axis=-1)   # (..., 1)
    if towards_only:
        coeff = xp.maximum(coeff, 0)
    direction = xp.take_along_axis(directions, best[..., None, None], axis=-2)[..., 0, :]
    return coeff * direction


def spgd_sparsify_mask(norms, lengths, sigma):
    """(B, T) bool: the ``floor((1 - sigma) L_b)`` positions of largest ``norms`` per review.

    Ties go to the earlier position; padding is never kept. On CuPy arrays this
    runs the top-k kernel of :mod:`interpretable_adv.kernels` (no sort);
    :func:`spgd_sparsify_mask_reference` is the NumPy reference.
    """
    xp = _xp(norms)
    if xp is not np:
        from interpretable_adv.kernels import topk_mask_gpu
        return topk_mask_gpu(norms, lengths, keep_count(xp.asarray(lengths), sigma))
    return spgd_sparsify_mask_reference(norms, lengths, sigma)


def spgd_sparsify_mask_reference(norms, lengths, sigma):
    """NumPy reference of :func:`spgd_sparsify_mask` (stable sort of each review's norms)."""
    if not 0.0 <= sigma <= 1.0:
        raise ValueError("sigma must be in [0, 1], got %r" % sigma)
    norms = np.asarray(norms, dtype=np.float64)
    lengths = np.asarray(lengths)
    valid = valid_mask(lengths, norms.shape[1])
    keyed = np.where(valid, norms, -np.inf)
    order = np.argsort(-keyed, axis=1, kind="stable")        # largest first, earlier position on ties
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(norms.shape[1])[None, :].repeat(len(norms), 0), axis=1)
    return (ranks < keep_count(lengths, sigma)[:, None]) & valid


def spgd_perturbation(grad, directions, lengths, eps, sigma, towards_only=False, norm="exact", rank="raw"):
    """SPGD perturbation for M = 1 (Algorithm 1): AdvT step, projection, sparsification.

    ``rank='raw'`` keeps the positions with the largest ``||r_bt||``
    (Algorithm 1); ``rank='projected'`` ranks by ``||rhat_bt||`` instead.
    """
    if rank not in SPGD_RANKS:
        raise ValueError("rank must be one of %s, got %r" % (SPGD_RANKS, rank))
    r = advt_perturbation(grad, lengths, eps, norm)
    return spgd_from_raw(r, directions, lengths, sigma, towards_only, rank)


def spgd_from_raw(r, directions, lengths, sigma, towards_only=False, rank="raw"):
    """Steps 2-3 of Algorithm 1 on a raw perturbation ``r`` (also used for M > 1)."""
    xp = _xp(r)
    rhat = spgd_project(r, directions, towards_only)
    ranked = r if rank == "raw" else rhat
    norms = xp.sqrt((ranked * ranked).sum(axis=-1))
    mask = spgd_sparsify_mask(norms, lengths, sigma)
    return rhat * mask[..., None].astype(rhat.dtype)


def spgd_from_raw_kept_only(r, lengths, sigma, directions_at, towards_only=False):
    """:func:`spgd_from_raw` with ``rank='raw'``, computing neighbour directions only where they are kept.

    With the raw ranking the sparsity mask depends on ``r`` alone, so the
    projection is needed at only ``floor((1 - sigma) L_b)`` positions per
    review. ``directions_at(batch_index, position)`` returns the (N, K, D)
    directions of those N tokens. The result equals
    ``spgd_from_raw(r, directions, lengths, sigma, towards_only, 'raw')``
    exactly, at a quarter of the direction work for sigma = 0.75 (and, in
    training, neighbour rows only for the words that are kept).
    """
    xp = _xp(r)
    mask = spgd_sparsify_mask(xp.sqrt((r * r).sum(axis=-1)), lengths, sigma)
    batch_index, position = xp.nonzero(mask)
    out = xp.zeros_like(r)
    if len(batch_index):
        out[batch_index, position] = spgd_project(r[batch_index, position], directions_at(batch_index, position),
                                                  towards_only)
    return out


def project_to_ball(r, lengths, eps):
    """Project each review's perturbation onto the L2 ball of radius ``eps`` (SPGD, M > 1)."""
    xp = _xp(r)
    norms = review_norms(r, lengths)
    factor = xp.minimum(1.0, eps / xp.maximum(norms, _TINY)).astype(r.dtype)
    return r * factor[:, None, None]

