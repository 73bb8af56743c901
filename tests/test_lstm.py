"""Our LSTM loop against Chainer's NStepLSTM (the reference): outputs and gradients."""

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
import pytest

from interpretable_adv.lstm import lstm_sequences
from tests.helpers import gpu_available


CASES = [((5, 3, 7, 1, 7), False, False), ((4, 4, 4), True, False), ((1,), True, False), ((6, 2, 9, 2), True, True)]


@pytest.mark.parametrize("lengths, with_state, final_h_only", CASES)
def test_matches_nstep_lstm_outputs_and_gradients(lengths, with_state, final_h_only):
    _compare_with_nstep_lstm(lengths, with_state, final_h_only, np)


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("lengths, with_state, final_h_only", CASES)
def test_matches_nstep_lstm_on_gpu(lengths, with_state, final_h_only):
    import cupy
    with chainer.using_config("use_cudnn", "never"):     # NStepLSTM's own CUDA path is the reference
        _compare_with_nstep_lstm(lengths, with_state, final_h_only, cupy)


def _compare_with_nstep_lstm(lengths, with_state, final_h_only, xp):
    rng = np.random.default_rng(0)
    with chainer.using_config("dtype", np.float64):
        rnn = L.NStepLSTM(1, 3, 4, 0.0)
    for name, param in rnn.namedparams():       # non-trivial biases
        param.array[...] = rng.standard_normal(param.shape)
    if xp is not np:
        rnn.to_device("@cupy:0")
    xs = [xp.asarray(rng.standard_normal((n, 3))) for n in lengths]
    state = [xp.asarray(rng.standard_normal((1, len(lengths), 4))) for _ in range(2)] if with_state else [None, None]

    def run(function):
        rnn.cleargrads()
        inputs = [chainer.Variable(x.copy()) for x in xs]
        hx, cx = [None if s is None else chainer.Variable(s.copy()) for s in state]
        hy, cy, ys = function(hx, cx, inputs)
        if final_h_only:   # the classifier's use: no gradient reaches ys or cy
            loss = F.sum(hy * hy)
        else:
            loss = F.sum(hy * hy) + F.sum(cy) + sum(F.sum(y * (i + 1)) for i, y in enumerate(ys))
        loss.backward()
        cpu = chainer.backends.cuda.to_cpu
        grads = {n: cpu(p.grad) for n, p in rnn.namedparams()}
        return (cpu(hy.array), cpu(cy.array), [cpu(y.array) for y in ys], grads,
                [None if x.grad is None else cpu(x.grad) for x in inputs],
                None if hx is None else cpu(hx.grad), None if cx is None else cpu(cx.grad))

    ref = run(rnn)
    ours = run(lambda hx, cx, inputs: lstm_sequences(rnn, hx, cx, inputs))
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-10)
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-10)
    for a, b in zip(ours[2], ref[2]):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    for name in ref[3]:
        np.testing.assert_allclose(ours[3][name], ref[3][name], rtol=1e-9, atol=1e-12, err_msg=name)
    for a, b in zip(ours[4], ref[4]):
        if b is None:     # a sequence whose inputs do not reach the loss
            assert a is None or not np.any(a)
            continue
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    if with_state:
        np.testing.assert_allclose(ours[5], ref[5], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours[6], ref[6], rtol=1e-9, atol=1e-12)


def test_subnormal_gradients_are_flushed_to_zero_by_hand():
    from interpretable_adv.lstm import _flush_subnormals

    x = np.array([1e-39, -1e-40, 1.2e-38, -2e-38, 0.0, 1.0], np.float32)   # float32 tiny = 1.1755e-38
    _flush_subnormals(x)
    np.testing.assert_array_equal(x, np.array([0.0, 0.0, 1.2e-38, -2e-38, 0.0, 1.0], np.float32))
