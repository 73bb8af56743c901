"""Sanity properties of adversarial training whose answers are known without the code under test."""

import chainer
import chainer.functions as F
import numpy as np
import pytest

from interpretable_adv.methods import Batch
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.nets import Classifier, ClassifierLoss
from interpretable_adv.perturbation import BatchLayout, perturbation_statistics
from interpretable_adv.training.updaters import ClassifierUpdater
from tests.helpers import adversarial_updater

CPU = chainer.get_device("@numpy")


def _model(seed=0, dropout=0.5, vocab=40):
    np.random.seed(seed)
    return Classifier(vocab, embed_dim=6, hidden_dim=8, fc_dim=5, dropout=dropout)


def _batch(seed, vocab=40, batch=6):
    rng = np.random.default_rng(seed)
    xs = [rng.integers(0, vocab, size=n).astype(np.int32) for n in rng.integers(3, 12, size=batch)]
    return xs, rng.integers(0, 2, size=batch).astype(np.int32)


def _gradients(updater_class, seed, **kwargs):
    """Parameter gradients after one compute_gradients with NumPy's generator at ``seed`` (dropout masks)."""
    model = _model()
    loss_model = ClassifierLoss(model)
    optimizer = chainer.optimizers.SGD(lr=0.0)
    optimizer.setup(loss_model)
    xs, t = _batch(1)
    neighbors = kwargs.pop("neighbors", None)
    if neighbors is not None:
        neighbors.refresh(model.embed.W.array)
        kwargs["neighbors"] = neighbors
    updater = updater_class(iter([]), optimizer, CPU, **kwargs)
    reporter = chainer.Reporter()
    reporter.add_observer("main", loss_model)
    np.random.seed(seed)
    with reporter.scope({}):
        updater.compute_gradients(loss_model, xs, t)
    return {name: p.grad.copy() for name, p in model.namedparams()}


@pytest.mark.parametrize("method", ["advt", "iadvt", "spgd"])
def test_adv_weight_zero_reproduces_the_plain_update_bit_for_bit(method):
    """lambda = 0: L(x) + 0 * L(x + d) has exactly the plain classifier's gradients (dropout 0.5 included)."""
    plain = _gradients(ClassifierUpdater, seed=5)
    neighbors = None if method == "advt" else NeighborTable(3)
    adversarial = _gradients(adversarial_updater, seed=5, method=method, eps=1.0, adv_weight=0.0,
                             neighbors=neighbors)
    assert set(plain) == set(adversarial)
    for name in plain:
        np.testing.assert_array_equal(adversarial[name], plain[name], err_msg=name)


def _losses(model, xs, t, d_flat):
    lengths = [len(x) for x in xs]
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        x = model.embed_reviews(xs).array
        clean = float(F.softmax_cross_entropy(model.logits_from_inputs(x, lengths), t).array)
        return clean, [float(F.softmax_cross_entropy(model.logits_from_inputs(x + s * d_flat, lengths), t).array)
                       for s in (1.0, -1.0)]


@pytest.mark.parametrize("method", ["advt", "iadvt", "spgd"])
def test_adversarial_loss_exceeds_clean_loss_on_average(method):
    """d is built from +grad: L(x + d) >= L(x) on average over batches, and L(x - d) <= L(x)."""
    model = _model(dropout=0.0)
    neighbors = None
    if method != "advt":
        neighbors = NeighborTable(3)
        neighbors.refresh(model.embed.W.array)
    optimizer = chainer.optimizers.SGD()
    optimizer.setup(ClassifierLoss(model))
    updater = adversarial_updater(iter([]), optimizer, CPU, method, eps=0.5, neighbors=neighbors)
    ups, downs = [], []
    for seed in range(20):
        xs, t = _batch(seed)
        lengths = [len(x) for x in xs]
        layout = BatchLayout(lengths, np)
        x = chainer.Variable(model.embed_reviews(xs).array)
        loss = F.softmax_cross_entropy(model.logits_from_inputs(x, lengths), t)
        (grad,) = chainer.grad([loss], [x])
        d = updater.perturbation(Batch(grad.array, np.concatenate(xs), layout, embeddings=model.embed.W.array,
                                       neighbors=neighbors))
        assert np.abs(d).sum() > 0
        clean, (up, down) = _losses(model, xs, t, d)
        ups.append(up - clean)
        downs.append(down - clean)
    assert np.mean(ups) > 0 and np.mean(downs) < 0
    assert np.mean(np.array(ups) >= 0) >= 0.8


def test_per_token_perturbation_statistics_match_their_definition():
    """Hand example: two reviews (2 and 3 tokens), d chosen so every norm is known."""
    d = np.array([[3, 4], [0, 0], [0, 1], [1, 0], [0, 0]], np.float32)     # ||d_t|| = 5, 0, 1, 1, 0
    e = np.array([[0, 10], [1, 0], [0, 2], [4, 0], [0, 1]], np.float32)    # ||E[w_t]|| = 10, 1, 2, 4, 1
    stats = perturbation_statistics(d, e, BatchLayout([2, 3], np))
    assert stats["perturbation_norm"] == pytest.approx((5 + np.sqrt(2)) / 2)
    assert stats["perturbed_share"] == pytest.approx(3 / 5)
    assert stats["token_perturbation_norm"] == pytest.approx((5 + 1 + 1) / 3)
    assert stats["token_perturbation_ratio"] == pytest.approx((5 / 10 + 1 / 2 + 1 / 4) / 3)
    zero = perturbation_statistics(np.zeros_like(d), e, BatchLayout([2, 3], np))
    assert zero["token_perturbation_norm"] == 0.0 and zero["perturbed_share"] == 0.0
