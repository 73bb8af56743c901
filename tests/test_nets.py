"""The networks: forget-gate bias, TBPTT state handling, classifier read-out."""

import chainer
import numpy as np
import pytest

from interpretable_adv.iterators import StreamIterator
from interpretable_adv.nets import Classifier, LanguageModel
from interpretable_adv.training.updaters import TBPTTUpdater


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_forget_gate_bias_is_one_in_the_lstm_computation():
    lm = LanguageModel(30, embed_dim=4, hidden_dim=5, cutoffs=(10,))
    layer = lm.rnn[0]
    # Behavioural check of the gate layout: with every weight and every other bias zeroed,
    # c1 = f * c0 + i * tanh(0) = sigmoid(forget bias) * c0.
    for i in range(8):
        getattr(layer, "w%d" % i).array[...] = 0
    for i in (0, 2, 3, 4, 6, 7):
        getattr(layer, "b%d" % i).array[...] = 0
    cx = np.ones((1, 2, 5), np.float32)
    hx = np.zeros((1, 2, 5), np.float32)
    xs = [np.random.randn(1, 4).astype(np.float32) for _ in range(2)]
    _, cy, _ = lm.rnn(hx, cx, xs)
    np.testing.assert_allclose(cy.array, _sigmoid(1.0), rtol=1e-6)


def test_lm_weights_are_uniform_within_init_scale():
    lm = LanguageModel(300, embed_dim=8, hidden_dim=16, cutoffs=(50, 150), init_scale=0.1)
    for name, param in lm.namedparams():
        if name.endswith("/b1") or name.endswith("/b5"):
            continue
        assert np.abs(param.array).max() <= 0.1 + 1e-7, name


def _lm_without_dropout():
    return LanguageModel(40, embed_dim=6, hidden_dim=7, dropout=0.0, cutoffs=(10, 20))


def test_tbptt_carries_the_state_across_updates():
    np.random.seed(0)
    lm = _lm_without_dropout()
    x = np.random.randint(0, 40, size=(3, 10)).astype(np.int32)
    with chainer.no_backprop_mode():
        _, (h_full, c_full) = lm.hidden_states(x)
        _, state = lm.hidden_states(x[:, :4])
        _, (h_split, c_split) = lm.hidden_states(x[:, 4:], state)
    np.testing.assert_allclose(h_split.array, h_full.array, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_split.array, c_full.array, rtol=1e-5, atol=1e-6)


def test_tbptt_updater_cuts_the_graph_between_updates():
    np.random.seed(1)
    lm = _lm_without_dropout()
    optimizer = chainer.optimizers.SGD(lr=0.0)  # keep weights fixed; we inspect gradients
    optimizer.setup(lm)
    # Block 1 uses ids 0..19 only, block 2 ids 20..39 only.
    first = np.random.randint(0, 20, size=(2, 6))
    second = np.random.randint(20, 40, size=(2, 6))
    stream = np.concatenate([np.concatenate([first[b], second[b]]) for b in range(2)] + [[0]]).astype(np.int32)
    iterator = StreamIterator(stream, batch_size=2, bptt_len=6)
    updater = TBPTTUpdater(iterator, optimizer, chainer.get_device("@numpy"))
    updater.update()
    assert updater.state is not None
    assert all(s.creator is None for s in updater.state), "carried state must be cut from the graph"
    carried = [s.array.copy() for s in updater.state]
    updater.update()
    grad = lm.embed.W.grad
    # The second update's loss depends on block 1 only through the carried (constant) state:
    # ids seen only in block 1 get no gradient, ids of block 2 do.
    only_first = np.setdiff1d(np.unique(first), np.unique(second))
    assert np.all(grad[only_first] == 0)
    assert np.abs(grad[np.unique(np.concatenate([second[:, :-1].ravel()]))]).sum() > 0
    # ... and the carried state really entered the second block: recompute with and without it.
    with chainer.no_backprop_mode():
        x2 = iterator.inputs[:, 6:12]
        t2 = iterator.targets[:, 6:12]
        with_state, _ = lm(x2, t2, tuple(chainer.Variable(c) for c in carried))
        without_state, _ = lm(x2, t2, None)
    assert float(with_state.array) != pytest.approx(float(without_state.array))


def test_classifier_reads_out_at_each_reviews_last_step():
    np.random.seed(2)
    model = Classifier(50, embed_dim=4, hidden_dim=6, fc_dim=3, dropout=0.0)
    xs = [np.random.randint(0, 50, size=n).astype(np.int32) for n in (7, 3, 5)]
    with chainer.using_config("train", False):
        batched = model(xs).array
        single = np.concatenate([model([x]).array for x in xs])
    # Each review alone (no other sequence, no padding) gives the same logits as in the batch.
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
