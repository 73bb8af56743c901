"""The perturbations checked against independent computations (loops, brute force, hand cases)."""

import itertools
import math

import numpy as np
import pytest

from interpretable_adv import adversarial as adv
from interpretable_adv.topk import top_k_rows


def _batch(rng, lengths=(5, 3, 1), steps=6, dim=4):
    lengths = np.array(lengths)
    grad = rng.standard_normal((len(lengths), steps, dim)).astype(np.float32)
    grad[~adv.valid_mask(lengths, steps)] = 0
    return grad, lengths


# ----------------------------------------------------------------------------- AdvT

def test_advt_has_norm_eps_per_review_and_points_along_the_gradient():
    rng = np.random.default_rng(0)
    grad, lengths = _batch(rng)
    d = adv.advt_perturbation(grad, lengths, eps=5.0)
    for b, n in enumerate(lengths):
        assert np.linalg.norm(d[b, :n]) == pytest.approx(5.0, rel=1e-5)
        cosine = (d[b, :n] * grad[b, :n]).sum() / (np.linalg.norm(d[b, :n]) * np.linalg.norm(grad[b, :n]))
        assert cosine == pytest.approx(1.0, abs=1e-6)
        assert np.all(d[b, n:] == 0)


def test_advt_ignores_garbage_in_padding_and_handles_zero_gradient():
    rng = np.random.default_rng(1)
    grad, lengths = _batch(rng)
    noisy = grad.copy()
    noisy[0, 5:] = 100.0
    np.testing.assert_allclose(adv.advt_perturbation(noisy, lengths, 1.0), adv.advt_perturbation(grad, lengths, 1.0))
    grad[1] = 0
    d = adv.advt_perturbation(grad, lengths, 1.0)
    assert np.all(d[1] == 0) and np.all(np.isfinite(d))


def test_upstream_normalisation_shrinks_tiny_gradients():
    grad = np.zeros((2, 2, 1), np.float32)
    grad[0, 0, 0] = 1e-4      # ||g|| = 1e-4 -> factor 1e-4 / sqrt(1e-6 + 1e-8) ~ 0.0995
    grad[1, 0, 0] = 10.0
    d = adv.advt_perturbation(grad, np.array([2, 2]), 1.0, norm="upstream")
    assert d[0, 0, 0] == pytest.approx(1e-4 / math.sqrt(1e-6 + 1e-8), rel=1e-5)
    assert d[1, 0, 0] == pytest.approx(1.0, rel=1e-6)


# ----------------------------------------------------------------------------- neighbours

def _brute_force_neighbors(emb, k):
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    out = []
    for w in range(len(emb)):
        sims = [(-(unit[w] @ unit[j]), j) for j in range(len(emb)) if j != w]
        out.append([j for _, j in sorted(sims)[:k]])
    return np.array(out)


@pytest.mark.parametrize("block_size", [1, 7, 1000])
def test_nearest_neighbors_match_brute_force_cosine(block_size):
    rng = np.random.default_rng(2)
    emb = rng.standard_normal((40, 5)).astype(np.float32)
    ids = adv.nearest_neighbors(emb, 6, block_size=block_size)
    assert ids.shape == (40, 6) and ids.dtype == np.int32
    np.testing.assert_array_equal(ids, _brute_force_neighbors(emb.astype(np.float64), 6))
    assert not np.any(ids == np.arange(40)[:, None])


def test_nearest_neighbors_ties_go_to_the_smaller_id_and_include_self_option():
    emb = np.array([[1, 0], [2, 0], [3, 0], [0, 1], [1, 0.001]], np.float32)  # 0, 1, 2 identical directions
    ids = adv.nearest_neighbors(emb, 2)
    assert ids[0].tolist() == [1, 2] and ids[2].tolist() == [0, 1] and ids[3].tolist() == [4, 0]
    with_self = adv.nearest_neighbors(emb, 1, exclude_self=False)
    assert with_self[3, 0] == 3 and with_self[1, 0] == 0   # a tie with itself: smaller id first
    with pytest.raises(ValueError, match="k must be"):
        adv.nearest_neighbors(emb, 5)


def test_neighbor_directions_are_unit_differences():
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((10, 3)).astype(np.float32)
    table = adv.nearest_neighbors(emb, 4)
    words = np.array([[1, 2, 9], [0, 0, 5]])
    u = adv.neighbor_directions(emb, words, table)
    assert u.shape == (2, 3, 4, 3)
    for b, t, k in itertools.product(range(2), range(3), range(4)):
        diff = emb[table[words[b, t], k]] - emb[words[b, t]]
        np.testing.assert_allclose(u[b, t, k], diff / np.linalg.norm(diff), rtol=1e-5)


# ----------------------------------------------------------------------------- iAdvT

def _iadvt_loop(grad, u, lengths, eps, weights="token"):
    """Brute force over reviews, tokens and neighbours (no vectorisation)."""
    B, T, K, D = u.shape
    d = np.zeros((B, T, D))
    for b in range(B):
        coeffs = np.zeros((T, K))
        for t in range(lengths[b]):
            for k in range(K):
                coeffs[t, k] = sum(grad[b, t, i] * u[b, t, k, i] for i in range(D))
        dd = np.zeros((T, D))
        review_norm = math.sqrt(sum(c * c for c in coeffs.ravel()))
        for t in range(lengths[b]):
            norm = math.sqrt(sum(c * c for c in coeffs[t])) if weights == "token" else review_norm
            for k in range(K):
                dd[t] += coeffs[t, k] / norm * u[b, t, k]
        d[b] = eps * dd / math.sqrt((dd ** 2).sum())
    return d


@pytest.mark.parametrize("weights", ["token", "review"])
def test_iadvt_equals_a_brute_force_loop(weights):
    rng = np.random.default_rng(4)
    emb = rng.standard_normal((12, 4)).astype(np.float32)
    table = adv.nearest_neighbors(emb, 3)
    grad, lengths = _batch(rng, steps=6, dim=4)
    words = rng.integers(0, 12, size=(3, 6))
    u = adv.neighbor_directions(emb, words, table)
    d = adv.iadvt_perturbation(grad, u, lengths, eps=15.0, weights=weights)
    np.testing.assert_allclose(d, _iadvt_loop(grad.astype(np.float64), u.astype(np.float64), lengths, 15.0, weights),
                               rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- SPGD

def test_spgd_projection_hand_example():
    # One token, r = (2, 1); directions e_x, e_y, -e_x: best is e_x with coefficient 2.
    u = np.array([[[[1, 0], [0, 1], [-1, 0]]]], np.float32)
    r = np.array([[[2, 1]]], np.float32)
    np.testing.assert_allclose(adv.spgd_project(r, u), [[[2, 0]]])
    # r = (-3, -1) against e_x and e_y only: best coefficient is -1 (e_y); towards_only clamps it.
    u2 = u[:, :, :2]
    r2 = np.array([[[-3, -1]]], np.float32)
    np.testing.assert_allclose(adv.spgd_project(r2, u2), [[[0, -1]]])
    np.testing.assert_allclose(adv.spgd_project(r2, u2, towards_only=True), [[[0, 0]]])


def _brute_force_mask(norms, lengths, sigma):
    mask = np.zeros(norms.shape, bool)
    for b, n in enumerate(lengths):
        keep = int(math.floor((1 - sigma) * n + 1e-9))
        ranked = sorted(range(n), key=lambda t: (-norms[b, t], t))
        mask[b, ranked[:keep]] = True
    return mask


@pytest.mark.parametrize("sigma", [0.0, 0.1, 0.5, 0.75, 0.9, 1.0])
def test_sparsify_mask_matches_brute_force(sigma):
    rng = np.random.default_rng(5)
    lengths = rng.integers(0, 30, size=25)
    lengths[0] = 30
    norms = rng.random((25, 30)).astype(np.float32)
    norms[3, :4] = 0.5                                   # ties: earlier positions win
    np.testing.assert_array_equal(adv.spgd_sparsify_mask(norms, lengths, sigma),
                                  _brute_force_mask(norms, lengths, sigma))


def test_keep_count_uses_floor_without_rounding_errors():
    assert adv.keep_count(np.array([10, 7, 4, 3]), 0.9).tolist() == [1, 0, 0, 0]
    assert adv.keep_count(np.array([10, 7, 4, 3]), 0.75).tolist() == [2, 1, 1, 0]
    assert adv.keep_count(np.array([10]), 0.7).tolist() == [3]


def test_spgd_keeps_exactly_the_largest_raw_norms_each_along_one_direction():
    rng = np.random.default_rng(6)
    emb = rng.standard_normal((30, 5)).astype(np.float32)
    table = adv.nearest_neighbors(emb, 4)
    lengths = np.array([12, 8, 4, 2])
    grad, _ = _batch(rng, lengths=lengths, steps=12, dim=5)
    words = rng.integers(0, 30, size=(4, 12))
    u = adv.neighbor_directions(emb, words, table)
    d = adv.spgd_perturbation(grad, u, lengths, eps=25.0, sigma=0.75)
    r = adv.advt_perturbation(grad, lengths, 25.0)
    raw_norms = np.linalg.norm(r, axis=-1)
    for b, n in enumerate(lengths):
        kept = np.flatnonzero(np.linalg.norm(d[b], axis=-1) > 0)
        expected_count = math.floor(0.25 * n)
        assert len(kept) == expected_count
        largest = sorted(range(n), key=lambda t: (-raw_norms[b, t], t))[:expected_count]
        assert set(kept) <= set(largest)
        assert np.all(d[b, n:] == 0)
        for t in largest:
            # parallel to exactly one neighbour direction, with the projection coefficient r . u
            cosines = u[b, t] @ d[b, t] / max(np.linalg.norm(d[b, t]), 1e-12)
            best = int(np.argmax(u[b, t] @ r[b, t]))
            np.testing.assert_allclose(d[b, t], (r[b, t] @ u[b, t, best]) * u[b, t, best], rtol=1e-4, atol=1e-5)
            if np.linalg.norm(d[b, t]) > 0:
                assert np.sum(np.isclose(np.abs(cosines), 1.0, atol=1e-5)) == 1


@pytest.mark.parametrize("towards_only", [False, True])
def test_spgd_kept_only_equals_the_dense_computation_and_asks_only_for_kept_tokens(towards_only):
    rng = np.random.default_rng(16)
    emb = rng.standard_normal((40, 6)).astype(np.float32)
    table = adv.nearest_neighbors(emb, 5)
    lengths = np.array([13, 9, 4, 1, 3])
    grad, _ = _batch(rng, lengths=lengths, steps=13, dim=6)
    words = rng.integers(0, 40, size=(5, 13))
    r = adv.advt_perturbation(grad, lengths, 25.0)
    dense = adv.spgd_from_raw(r, adv.neighbor_directions(emb, words, table), lengths, 0.75, towards_only)
    asked = []

    def directions_at(b, t):
        asked.extend(zip(b.tolist(), t.tolist()))
        return adv.neighbor_directions(emb, words[b, t], table)

    lazy = adv.spgd_from_raw_kept_only(r, lengths, 0.75, directions_at, towards_only)
    np.testing.assert_array_equal(lazy, dense)
    assert len(asked) == sum(math.floor(0.25 * n) for n in lengths)
    assert all(np.linalg.norm(r[b, t]) > 0 for b, t in asked)


def test_spgd_rank_by_projected_norm_option():
    u = np.array([[[[1, 0]], [[0, 1]]]], np.float32)        # token 0 may move along x, token 1 along y
    grad = np.array([[[3, 0.1], [2.9, 2.0]]], np.float32)    # raw norms: 3.0 < 3.52, projected: 3 > 2
    raw = adv.spgd_perturbation(grad, u, np.array([2]), eps=1.0, sigma=0.5)
    projected = adv.spgd_perturbation(grad, u, np.array([2]), eps=1.0, sigma=0.5, rank="projected")
    assert np.linalg.norm(raw[0, 1]) > 0 and np.all(raw[0, 0] == 0)
    assert np.linalg.norm(projected[0, 0]) > 0 and np.all(projected[0, 1] == 0)


def test_project_to_ball():
    r = np.zeros((2, 2, 2), np.float32)
    r[0, 0] = [3, 4]          # norm 5 -> scaled to 2
    r[1, 0] = [0.3, 0.4]      # norm 0.5 -> unchanged
    out = adv.project_to_ball(r, np.array([2, 2]), 2.0)
    np.testing.assert_allclose(np.linalg.norm(out[0]), 2.0, rtol=1e-6)
    np.testing.assert_allclose(out[1], r[1])


@pytest.mark.parametrize("width, k", [(1, 1), (63, 5), (64, 64), (65, 3), (500, 15), (1000, 1), (4100, 15)])
def test_top_k_rows_matches_a_full_sort(width, k):
    rng = np.random.default_rng(width)
    sims = rng.standard_normal((9, width)).astype(np.float32)
    sims[1, ::5] = 3.0                                        # many ties at the top, across chunks
    sims[2] = 0.0                                             # all equal
    sims[3, -1] = 10.0                                        # maximum in the padded last chunk
    expected = np.array([sorted(range(width), key=lambda j: (-row[j], j))[:k] for row in sims])
    np.testing.assert_array_equal(top_k_rows(sims, k), expected)


@pytest.mark.parametrize("weights", ["token", "review"])
@pytest.mark.parametrize("norm", ["exact", "upstream"])
def test_flat_iadvt_equals_the_padded_public_function(weights, norm):
    """The flat iAdvT (no (B, T, K, D) directions) against the public padded one, duplicate embeddings included."""
    rng = np.random.default_rng(4)
    embeddings = rng.standard_normal((40, 6)).astype(np.float32)
    embeddings[9] = embeddings[2]                          # a zero difference: its direction counts as 0
    table = adv.nearest_neighbors(embeddings, 4)
    lengths = np.array([5, 1, 8])
    words = rng.integers(0, 40, (3, 8)).astype(np.int32)
    words[0, 0] = 2
    mask = adv.valid_mask(lengths, 8)
    grad = rng.standard_normal((3, 8, 6)).astype(np.float32) * mask[..., None]
    padded = adv.iadvt_perturbation(grad, adv.neighbor_directions(embeddings, words, table), lengths, 1.5,
                                    weights, norm)
    flat = adv.iadvt_perturbation_flat(grad[mask], embeddings, words[mask], table,
                                       np.repeat(np.arange(3), lengths), 3, 1.5, weights, norm)
    np.testing.assert_allclose(flat, padded[mask], rtol=1e-5, atol=1e-6)
    per_review = np.sqrt(np.bincount(np.repeat(np.arange(3), lengths), weights=(flat * flat).sum(axis=1)))
    if norm == "exact":
        np.testing.assert_allclose(per_review, 1.5, rtol=1e-5)
