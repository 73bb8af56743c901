"""Tests of interpretable_adv.adaptive_softmax (AdaptiveSoftmax and FullSoftmax)."""

import warnings

import chainer
import chainer.functions as F
import numpy as np
import pytest

with warnings.catch_warnings():
    # chainer.gradient_check imports chainer.testing, which applies an unregistered
    # ``pytest.mark.gpu`` at import time; the warning is cosmetic.
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    from chainer import gradient_check

from interpretable_adv.adaptive_softmax import AdaptiveSoftmax, FullSoftmax

IN_SIZE = 8
N_VOCAB = 50
CUTOFFS = (5, 20)  # shortlist [0, 5), cluster 0 = [5, 20), cluster 1 = [20, 50)


def make_adaptive(seed=0, dtype=np.float64, **kwargs):
    config = dict(in_size=IN_SIZE, n_vocab=N_VOCAB, cutoffs=CUTOFFS, div_value=2.0)
    config.update(kwargs)
    np.random.seed(seed)
    with chainer.using_config("dtype", dtype):
        return AdaptiveSoftmax(**config)


def randomize_biases(link, rng):
    # Chainer initialises biases to zero; random ones make the tests stricter.
    for name, param in link.namedparams():
        if name.endswith("/b"):
            param.array[...] = rng.uniform(-0.5, 0.5, param.shape).astype(param.dtype)


def numpy_log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def test_layout_of_the_small_config():
    model = make_adaptive()
    assert model.cutoffs == (5, 20)
    assert model.n_clusters == 2
    assert model.shortlist_size == 5
    assert model.cluster_bounds == [(5, 20), (20, 50)]
    assert model.head.W.shape == (5 + 2, IN_SIZE)
    assert model.proj_sizes == [4, 2]
    assert model.tails[0].proj.W.shape == (4, IN_SIZE)
    assert model.tails[0].proj.b is None
    assert model.tails[0].out.W.shape == (15, 4)
    assert model.tails[1].proj.W.shape == (2, IN_SIZE)
    assert model.tails[1].out.W.shape == (30, 2)


def test_projection_size_is_at_least_one():
    with chainer.using_config("dtype", np.float64):
        model = AdaptiveSoftmax(2, 30, cutoffs=(4, 10), div_value=4.0)
    assert model.proj_sizes == [1, 1]
    h = np.random.RandomState(0).randn(3, 2)
    assert np.allclose(np.exp(model.log_prob(h).array).sum(axis=1), 1.0, atol=1e-6)


def test_initialW_is_passed_to_every_linear():
    with chainer.using_config("dtype", np.float64):
        model = AdaptiveSoftmax(IN_SIZE, N_VOCAB, CUTOFFS, 2.0, initialW=chainer.initializers.Constant(0.25))
    weights = [p.array for name, p in model.namedparams() if name.endswith("/W")]
    assert len(weights) == 1 + 2 * 2
    assert all(np.all(w == 0.25) for w in weights)


def test_log_prob_rows_sum_to_one():
    model = make_adaptive()
    rng = np.random.RandomState(1)
    randomize_biases(model, rng)
    h = rng.randn(7, IN_SIZE) * 3.0
    log_p = model.log_prob(h)
    assert log_p.shape == (7, N_VOCAB)
    assert np.allclose(np.exp(log_p.array).sum(axis=1), 1.0, rtol=0, atol=1e-6)


def test_log_prob_also_sums_to_one_in_float32():
    model = make_adaptive(dtype=np.float32)
    h = np.random.RandomState(2).randn(4, IN_SIZE).astype(np.float32)
    log_p = model.log_prob(h)
    assert log_p.dtype == np.float32
    assert np.allclose(np.exp(log_p.array.astype(np.float64)).sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("targets", [
    [0, 4, 5, 19, 20, 49, 1, 12, 33],  # shortlist, both clusters, their boundaries
    [0, 1, 2, 3, 4, 0],                 # shortlist only: no tail rows at all
    [3, 7, 19, 5, 0],                   # cluster 1 gets no rows
    [25, 49, 2, 20],                    # cluster 0 gets no rows
    [30, 40, 21],                       # cluster 1 only
])
def test_nll_matches_log_prob(targets):
    model = make_adaptive()
    rng = np.random.RandomState(3)
    randomize_biases(model, rng)
    t = np.asarray(targets, dtype=np.int32)
    h = rng.randn(len(t), IN_SIZE)
    nll = model.nll(h, t)
    assert nll.shape == (len(t),)
    expected = -model.log_prob(h).array[np.arange(len(t)), t]
    np.testing.assert_allclose(nll.array, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model(h, t).array, expected.mean(), rtol=1e-10)


def test_nll_accepts_a_target_variable():
    model = make_adaptive()
    t = np.array([1, 10, 30], dtype=np.int32)
    h = np.random.RandomState(4).randn(3, IN_SIZE)
    np.testing.assert_allclose(model.nll(h, chainer.Variable(t)).array, model.nll(h, t).array)


@pytest.mark.parametrize("targets", [
    [0, 4, 5, 19, 20, 49, 12, 33],
    [3, 7, 19, 0],  # one cluster without rows
])
def test_nll_gradient_check(targets):
    model = make_adaptive()
    rng = np.random.RandomState(5)
    randomize_biases(model, rng)
    t = np.asarray(targets, dtype=np.int32)
    h = rng.randn(len(t), IN_SIZE)
    gy = rng.randn(len(t))
    params = tuple(p for _, p in sorted(model.namedparams()))
    gradient_check.check_backward(
        lambda x: model.nll(x, t), h, gy, params=params, eps=1e-6, atol=1e-7, rtol=1e-6, dtype=np.float64)


def test_nll_gradient_against_numpy_finite_differences():
    model = make_adaptive()
    rng = np.random.RandomState(6)
    randomize_biases(model, rng)
    t = np.array([2, 6, 18, 21, 47], dtype=np.int32)
    h = rng.randn(len(t), IN_SIZE)

    def loss():
        return float(model.nll(h, t).array.sum())

    hv = chainer.Variable(h.copy())
    model.cleargrads()
    F.sum(model.nll(hv, t)).backward()

    eps = 1e-6
    numeric_h = np.zeros_like(h)
    for idx in np.ndindex(*h.shape):
        saved = h[idx]
        h[idx] = saved + eps
        plus = loss()
        h[idx] = saved - eps
        minus = loss()
        h[idx] = saved
        numeric_h[idx] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(hv.grad, numeric_h, rtol=1e-6, atol=1e-8)

    for link_param in (model.head.b, model.tails[0].proj.W, model.tails[1].out.W):
        array = link_param.array
        numeric = np.zeros_like(array)
        for idx in np.ndindex(*array.shape):
            saved = array[idx]
            array[idx] = saved + eps
            plus = loss()
            array[idx] = saved - eps
            minus = loss()
            array[idx] = saved
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(link_param.grad, numeric, rtol=1e-6, atol=1e-8)


def test_full_softmax_matches_numpy():
    rng = np.random.RandomState(7)
    with chainer.using_config("dtype", np.float64):
        model = FullSoftmax(IN_SIZE, N_VOCAB)
    randomize_biases(model, rng)
    h = rng.randn(6, IN_SIZE)
    t = np.array([0, 1, 5, 20, 49, 33], dtype=np.int32)
    expected = numpy_log_softmax(h @ model.out.W.array.T + model.out.b.array)
    log_p = model.log_prob(h)
    assert log_p.shape == (6, N_VOCAB)
    np.testing.assert_allclose(log_p.array, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.nll(h, t).array, -expected[np.arange(6), t], rtol=1e-10)
    np.testing.assert_allclose(model(h, t).array, -expected[np.arange(6), t].mean(), rtol=1e-10)


def test_full_softmax_gradient_check():
    rng = np.random.RandomState(8)
    with chainer.using_config("dtype", np.float64):
        model = FullSoftmax(IN_SIZE, 12)
    randomize_biases(model, rng)
    t = np.array([0, 3, 11, 7], dtype=np.int32)
    h = rng.randn(4, IN_SIZE)
    gradient_check.check_backward(
        lambda x: model.nll(x, t), h, rng.randn(4), params=(model.out.W, model.out.b),
        eps=1e-6, atol=1e-7, rtol=1e-6, dtype=np.float64)


@pytest.mark.parametrize("cutoffs", [(50, 100), (60,), ()])
def test_cutoffs_beyond_vocabulary_give_a_plain_softmax(cutoffs):
    rng = np.random.RandomState(9)
    model = make_adaptive(cutoffs=cutoffs)
    assert model.cutoffs == ()
    assert model.n_clusters == 0
    assert len(model.tails) == 0
    assert model.head.W.shape == (N_VOCAB, IN_SIZE)
    randomize_biases(model, rng)

    with chainer.using_config("dtype", np.float64):
        full = FullSoftmax(IN_SIZE, N_VOCAB)
    full.out.W.array[...] = model.head.W.array
    full.out.b.array[...] = model.head.b.array

    h = rng.randn(5, IN_SIZE)
    t = np.array([0, 1, 17, 48, 49], dtype=np.int32)
    expected = numpy_log_softmax(h @ model.head.W.array.T + model.head.b.array)
    np.testing.assert_allclose(model.log_prob(h).array, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.log_prob(h).array, full.log_prob(h).array, rtol=1e-12)
    np.testing.assert_allclose(model.nll(h, t).array, full.nll(h, t).array, rtol=1e-12)


def test_only_the_cutoffs_beyond_the_vocabulary_are_dropped():
    model = make_adaptive(cutoffs=(5, 50, 80))
    assert model.cutoffs == (5,)
    assert model.cluster_bounds == [(5, 50)]
    assert model.head.W.shape == (6, IN_SIZE)
    h = np.random.RandomState(10).randn(3, IN_SIZE)
    t = np.array([0, 5, 49], dtype=np.int32)
    log_p = model.log_prob(h).array
    assert np.allclose(np.exp(log_p).sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(model.nll(h, t).array, -log_p[np.arange(3), t], rtol=1e-10)


@pytest.mark.parametrize("cutoffs", [(20, 5), (5, 5), (0, 10), (-3,), (5, 2.5), "ab", None])
def test_invalid_cutoffs_raise(cutoffs):
    with pytest.raises(ValueError, match="cutoffs"):
        AdaptiveSoftmax(IN_SIZE, N_VOCAB, cutoffs=cutoffs)


@pytest.mark.parametrize("kwargs", [dict(div_value=0.0), dict(in_size=0), dict(n_vocab=0)])
def test_invalid_sizes_raise(kwargs):
    config = dict(in_size=IN_SIZE, n_vocab=N_VOCAB, cutoffs=CUTOFFS)
    config.update(kwargs)
    with pytest.raises(ValueError):
        AdaptiveSoftmax(**config)


@pytest.mark.parametrize("link_factory", [
    lambda: AdaptiveSoftmax(IN_SIZE, N_VOCAB, cutoffs=CUTOFFS, div_value=2.0),
    lambda: FullSoftmax(IN_SIZE, N_VOCAB),
], ids=["adaptive", "full"])
def test_training_reduces_the_nll(link_factory):
    rng = np.random.RandomState(11)
    np.random.seed(11)
    model = link_factory()
    # A fixed Zipf-like target distribution, so that the tail clusters are visited too.
    p = 1.0 / np.arange(1, N_VOCAB + 1)
    p /= p.sum()
    t = rng.choice(N_VOCAB, size=256, p=p).astype(np.int32)
    assert t.max() >= CUTOFFS[1]
    h = rng.randn(256, IN_SIZE).astype(np.float32)
    optimizer = chainer.optimizers.Adam(alpha=0.01)
    optimizer.setup(model)
    initial = float(model(h, t).array)
    for _ in range(200):
        loss = model(h, t)
        model.cleargrads()
        loss.backward()
        optimizer.update()
    final = float(model(h, t).array)
    assert np.isfinite(final)
    assert final < initial - 0.5, (initial, final)
