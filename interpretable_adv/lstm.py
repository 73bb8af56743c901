"""One-layer LSTM over variable-length sequences, with the parameters of an ``L.NStepLSTM``.

Chainer's CPU (and cuDNN-less GPU) path of ``NStepLSTM`` re-stacks the gate
weight matrices at every time step and keeps each copy for the backward pass:
memory grows as ``T x 4H x (D + H)`` (about 21 MB per step at H = 1024,
D = 256, i.e. tens of GB for one 2,500-word review). :func:`lstm_sequences`
computes the same function with the same parameters (``w0..w7``, ``b0..b7``)
but stacks the weights once per call, projects the inputs of all time steps
in one matrix product, and per step only multiplies the hidden state. Its
outputs and gradients equal ``NStepLSTM``'s (tested). With cuDNN on a GPU the
link's own (cuDNN) implementation is used instead.
"""

import chainer
import chainer.functions as F
import numpy as np


def _stacked(params):
    """Gate blocks (a, i, f, o) interleaved as ``F.lstm`` expects: (4H, ...)."""
    w = F.stack(params, axis=1)
    return F.reshape(w, (w.shape[0] * w.shape[1],) + w.shape[2:])


def lstm_sequences(rnn, hx, cx, xs):
    """``(hy, cy, ys)`` exactly like ``rnn(hx, cx, xs)`` for a one-layer uni-directional NStepLSTM.

    ``xs``: list of (L_b, D) Variables or arrays (any order of lengths);
    ``hx``, ``cx``: (1, B, H) or None. Returns hy, cy of shape (1, B, H) and
    ``ys``, a list of (L_b, H).
    """
    if len(rnn) != 1:
        raise ValueError("lstm_sequences supports one layer, got %d" % len(rnn))
    xp = rnn.xp
    if xp is not np and chainer.should_use_cudnn(">=auto", 5000):
        return rnn(hx, cx, xs)
    layer = rnn[0]
    w = [getattr(layer, "w%d" % i) for i in range(8)]
    b = [getattr(layer, "b%d" % i) for i in range(8)]
    input_weight = _stacked([w[2], w[0], w[1], w[3]])
    hidden_weight = _stacked([w[6], w[4], w[5], w[7]])
    bias = _stacked([b[2], b[0], b[1], b[3]]) + _stacked([b[6], b[4], b[5], b[7]])
    hidden = hidden_weight.shape[1]

    lengths = np.array([len(x) for x in xs])
    order = np.argsort(-lengths, kind="stable")
    order_xp = xp.asarray(order)
    batch, dtype = len(xs), xs[0].dtype
    h = F.get_item(hx[0], order_xp) if hx is not None else chainer.Variable(xp.zeros((batch, hidden), dtype))
    c = F.get_item(cx[0], order_xp) if cx is not None else chainer.Variable(xp.zeros((batch, hidden), dtype))

    steps = F.transpose_sequence([xs[i] for i in order])               # T items of (B_t, D)
    sizes = [len(s) for s in steps]
    projected = F.linear(F.concat(steps, axis=0), input_weight, bias)   # all steps at once
    projected = F.split_axis(projected, np.cumsum(sizes)[:-1].tolist(), axis=0) if len(sizes) > 1 else [projected]

    outputs, finished_h, finished_c = [], [], []
    for gates_in, size in zip(projected, sizes):
        if size < h.shape[0]:   # sequences that ended: keep their final state aside
            h, h_done = F.split_axis(h, [size], axis=0)
            c, c_done = F.split_axis(c, [size], axis=0)
            finished_h.append(h_done)
            finished_c.append(c_done)
        c, h = F.lstm(c, gates_in + F.linear(h, hidden_weight))
        outputs.append(h)
    hy_sorted = F.concat([h] + finished_h[::-1], axis=0)
    cy_sorted = F.concat([c] + finished_c[::-1], axis=0)
    inverse = np.argsort(order)
    inverse_xp = xp.asarray(inverse)
    hy = F.expand_dims(F.get_item(hy_sorted, inverse_xp), 0)
    cy = F.expand_dims(F.get_item(cy_sorted, inverse_xp), 0)
    ys_sorted = F.transpose_sequence(outputs)
    ys = [ys_sorted[i] for i in inverse]
    return hy, cy, ys
