"""Adversarial training through real Chainer models: gradients, the update, neighbour refresh, resume."""

import json

import chainer
import chainer.functions as F
import numpy as np
import pytest

from interpretable_adv import adversarial as adv
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.nets import Classifier, ClassifierLoss
from interpretable_adv.presets import resolve
from interpretable_adv.perturbation import BatchLayout
from interpretable_adv.training.classifier import train_classifier
from tests.helpers import adversarial_updater, straight_then_killed_and_resumed

CPU = chainer.get_device("@numpy")


def _model(seed=0, dtype=np.float32, vocab=30):
    np.random.seed(seed)
    with chainer.using_config("dtype", dtype):
        model = Classifier(vocab, embed_dim=5, hidden_dim=6, fc_dim=4, dropout=0.0)
    return model


def _batch(seed=1, vocab=30):
    rng = np.random.default_rng(seed)
    xs = [rng.integers(0, vocab, size=n).astype(np.int32) for n in (6, 4, 9)]
    t = np.array([1, 0, 1], np.int32)
    return xs, t


def _compute(updater, loss_model, xs, t):
    """One ``compute_gradients`` call under a reporter; returns what it reported."""
    observation = {}
    reporter = chainer.Reporter()
    reporter.add_observer("main", loss_model)
    with reporter.scope(observation):
        updater.compute_gradients(loss_model, xs, t)
    return observation


def test_neighbour_weight_gradient_equals_projected_embedding_gradient():
    """dL/dalpha_tk at alpha = 0 for x_t + alpha_tk u_tk equals g_t . u_tk (finite differences)."""
    model = _model(dtype=np.float64)
    xs, t = _batch()
    lengths = [len(x) for x in xs]
    table = adv.nearest_neighbors(model.embed.W.array, 4)

    def loss_at(flat):
        return F.softmax_cross_entropy(model.logits_from_embeddings(flat, lengths), t)

    x = chainer.Variable(model.embed_reviews(xs).array)
    loss_at(x).backward()
    layout = BatchLayout(lengths, np)
    words = layout.pad(np.concatenate(xs))
    u = adv.neighbor_directions(model.embed.W.array, words, table)
    g = layout.pad(x.grad)
    h = 1e-5
    for b, pos, k in [(0, 0, 0), (0, 5, 3), (1, 2, 1), (2, 8, 2), (2, 3, 0)]:
        flat_index = sum(lengths[:b]) + pos
        step = np.zeros_like(x.array)
        step[flat_index] = h * u[b, pos, k]
        numeric = (float(loss_at(x.array + step).array) - float(loss_at(x.array - step).array)) / (2 * h)
        assert numeric == pytest.approx(float(g[b, pos] @ u[b, pos, k]), rel=1e-5, abs=1e-9)


def _updater(model, method, **kwargs):
    loss_model = ClassifierLoss(model)
    optimizer = chainer.optimizers.SGD(lr=0.0)
    optimizer.setup(loss_model)
    xs, t = _batch()

    class OneBatch(chainer.dataset.Iterator):
        epoch, is_new_epoch, epoch_detail, previous_epoch_detail = 0, False, 0.0, None

        def __next__(self):
            return list(zip(xs, t))

    neighbors = None
    if method != "advt":
        neighbors = NeighborTable(4)
        neighbors.refresh(model.embed.W.array)
    updater = adversarial_updater(OneBatch(), optimizer, CPU, method, neighbors=neighbors, **kwargs)
    return updater, loss_model, xs, t


@pytest.mark.parametrize("method", ["advt", "iadvt", "spgd"])
def test_update_gradients_equal_those_of_the_adversarial_objective(method):
    """Parameter gradients = those of L(x) + lambda L(x + d), d a constant, built independently."""
    model = _model(dtype=np.float64)
    updater, loss_model, xs, t = _updater(model, method, adv_weight=0.7, eps=2.0)
    lengths = [len(x) for x in xs]
    layout = BatchLayout(lengths, np)

    # Independent computation with the public functions.
    reference = _model(dtype=np.float64)
    x_leaf = chainer.Variable(reference.embed_reviews(xs).array)
    F.softmax_cross_entropy(reference.logits_from_embeddings(x_leaf, lengths), t).backward()
    g = layout.pad(x_leaf.grad)
    if method == "advt":
        d = adv.advt_perturbation(g, np.array(lengths), 2.0)
    else:
        words = layout.pad(np.concatenate(xs))
        u = adv.neighbor_directions(reference.embed.W.array, words,
                                    adv.nearest_neighbors(reference.embed.W.array, 4))
        d = (adv.iadvt_perturbation(g, u, np.array(lengths), 2.0) if method == "iadvt"
             else adv.spgd_perturbation(g, u, np.array(lengths), 2.0, 0.75))
    reference.cleargrads()
    embedded = reference.embed_reviews(xs)
    total = (F.softmax_cross_entropy(reference.logits_from_embeddings(embedded, lengths), t)
             + 0.7 * F.softmax_cross_entropy(reference.logits_from_embeddings(embedded + layout.flat(d), lengths), t))
    total.backward()

    _compute(updater, loss_model, xs, t)
    ours = dict(model.namedparams())
    for name, param in reference.namedparams():
        np.testing.assert_allclose(ours[name].grad, param.grad, rtol=1e-6, atol=1e-10, err_msg=name)


def test_perturbation_reaches_the_forward_pass():
    model = _model()
    updater, loss_model, xs, t = _updater(model, "spgd", eps=3.0)
    seen = []
    original = model.logits_from_inputs

    def spy(inputs, lengths):
        logits = original(inputs, lengths)
        seen.append((np.array(inputs.array), np.array(logits.array)))
        return logits

    model.logits_from_inputs = spy
    _compute(updater, loss_model, xs, t)
    (x_clean, logits_clean), (x_adv, logits_adv) = seen
    d = x_adv - x_clean
    lengths = [len(x) for x in xs]
    kept = (np.abs(d).sum(axis=1) > 0).astype(int)
    assert [int(s.sum()) for s in np.split(kept, np.cumsum(lengths)[:-1])] == [1, 1, 2]  # floor(0.25 L_b)
    assert not np.allclose(logits_clean, logits_adv)


def test_spgd_with_several_steps_stays_in_the_eps_ball():
    model = _model()
    updater, loss_model, xs, t = _updater(model, "spgd", eps=3.0, spgd_steps=3)
    observation = _compute(updater, loss_model, xs, t)
    assert 0 < observation["main/perturbation_norm"] <= 3.0 + 1e-5


def test_shared_dropout_masks_replay_the_clean_pass():
    np.random.seed(0)
    model = Classifier(30, embed_dim=5, hidden_dim=6, fc_dim=4, dropout=0.5)
    xs, _ = _batch()
    flat = model.embed_reviews(xs)
    lengths = [len(x) for x in xs]
    model.dropout_masks.record()
    first = model.logits_from_embeddings(flat, lengths).array
    model.dropout_masks.replay()
    second = model.logits_from_embeddings(flat, lengths).array
    model.dropout_masks.fresh()
    third = model.logits_from_embeddings(flat, lengths).array
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, third)


def test_lazy_table_equals_full_table_and_refresh_uses_current_embeddings():
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((50, 6)).astype(np.float32)
    lazy, full = NeighborTable(5, "lazy", block_size=7), NeighborTable(5, "full")
    lazy.refresh(emb)
    full.refresh(emb)
    words = np.array([[3, 7, 7, 49], [0, 1, 2, 3]])
    table = lazy.lookup(words)
    np.testing.assert_array_equal(table[np.unique(words)], full.table[np.unique(words)])
    assert lazy.rows_computed == len(np.unique(words)) and full.rows_computed == 50
    emb_later = emb.copy()
    emb_later[3] = emb[10] * 2.0                              # word 3 moves onto word 10's direction
    lazy.lookup(np.array([3]))
    assert lazy.table[3, 0] != 10                             # still the snapshot of the last refresh
    lazy.refresh(emb_later)
    assert lazy.lookup(np.array([3]))[3, 0] == 10
    np.testing.assert_array_equal(lazy.table[3], adv.nearest_neighbors(emb_later, 5)[3])


def _tiny(data, out, **overrides):
    return resolve("tiny", "train", dict(data=data, out=str(out), progress=False, **overrides))


def test_refresh_extension_runs_at_start_and_every_n_iterations(synthetic_prepared, tmp_path):
    results = train_classifier(_tiny(synthetic_prepared, tmp_path / "run", method="iadvt", epoch=2,
                                     neighbor_interval=3))
    log = json.load(open(tmp_path / "run" / "log"))
    iterations = log[-1]["iteration"]
    assert results["adversarial"]["neighbor_refreshes"] == 1 + iterations // 3
    assert results["adversarial"]["mean_perturbation_norm"] > 0


def test_killed_spgd_run_resumes_to_identical_weights(synthetic_prepared, tmp_path):
    straight, resumed = straight_then_killed_and_resumed(
        train_classifier, lambda out: _tiny(synthetic_prepared, out, method="spgd", epoch=2, snapshot_interval=4,
                                            neighbor_interval=3), 8, tmp_path, same_files=("best_model.npz",))
    assert resumed["dev_curve"] == straight["dev_curve"]
    for counter in ("neighbor_refreshes", "neighbor_rows_computed"):   # restored from the snapshot, not reset
        assert resumed["adversarial"][counter] == straight["adversarial"][counter], counter


def test_perturbation_is_added_after_embedding_dropout_with_shared_masks():
    """With dropout, d comes from the gradient at dropout(x) and is added after it (as upstream)."""
    np.random.seed(5)
    with chainer.using_config("dtype", np.float64):
        model = Classifier(30, embed_dim=5, hidden_dim=6, fc_dim=4, dropout=0.5)
    reference = model.copy(mode="copy")
    updater, loss_model, xs, t = _updater(model, "advt", eps=2.0, dropout_masks="shared")
    lengths = [len(x) for x in xs]
    np.random.seed(11)
    _compute(updater, loss_model, xs, t)

    np.random.seed(11)                      # the same draws: embedding mask, then head mask
    masks = reference.dropout_masks
    masks.record()
    embedded = reference.embed_reviews(xs)
    dropped = reference.dropout_embeddings(embedded)
    embed_mask = masks._masks["embed"]
    assert 0 < (embed_mask == 0).mean() < 1
    leaf = chainer.Variable(dropped.array)
    F.softmax_cross_entropy(reference.logits_from_inputs(leaf, lengths), t).backward()
    g = leaf.grad           # taken after dropout: non-zero even where the mask dropped the embedding
    assert np.abs(g[embed_mask == 0]).sum() > 0
    layout = BatchLayout(lengths, np)
    d = layout.flat(adv.advt_perturbation(layout.pad(g), np.array(lengths), 2.0))
    masks.replay()
    reference.cleargrads()
    inputs = embedded * embed_mask          # the recorded mask applied explicitly
    total = (F.softmax_cross_entropy(reference.logits_from_inputs(inputs, lengths), t)
             + F.softmax_cross_entropy(reference.logits_from_inputs(inputs + d, lengths), t))
    total.backward()
    masks.fresh()
    ours = dict(model.namedparams())
    for name, param in reference.namedparams():
        np.testing.assert_allclose(ours[name].grad, param.grad, rtol=1e-6, atol=1e-10, err_msg=name)
