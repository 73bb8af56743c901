"""One-layer LSTM over variable-length sequences, with the parameters of an ``L.NStepLSTM``.

Chainer's CPU (and cuDNN-less GPU) path of ``NStepLSTM`` re-stacks the gate
weight matrices at every time step and keeps each copy for the backward pass:
memory grows as ``T x 4H x (D + H)`` (about 21 MB per step at H = 1024,
D = 256, i.e. tens of GB for one 2,500-word review). :func:`lstm_sequences`
computes the same function with the same parameters (``w0..w7``, ``b0..b7``)
but stacks the weights once per call, projects the inputs of all time steps
in one matrix product, and runs the recurrence as one graph node
(:class:`LSTMRecurrence`) whose backward pass forms the hidden weight's
gradient in one matrix product. Its outputs and gradients equal
``NStepLSTM``'s (tested, CPU and GPU). With cuDNN on a GPU the link's own
(cuDNN) implementation is used instead.
"""

import chainer
import chainer.functions as F
import numpy as np


def _stacked(params):
    """Gate blocks (a, i, f, o) interleaved as ``F.lstm`` expects: (4H, ...)."""
    w = F.stack(params, axis=1)
    return F.reshape(w, (w.shape[0] * w.shape[1],) + w.shape[2:])


def _flush_subnormals(x):
    """Set the subnormal entries of ``x`` to zero, in place."""
    np.copyto(x, 0, where=np.abs(x) < np.finfo(x.dtype).tiny)


class LSTMRecurrence(chainer.FunctionNode):
    """The recurrent part of a one-layer LSTM over a length-sorted batch, as one graph node.

    Inputs: ``gates_in`` (N, 4H), the input projections of all time steps
    stacked time-major (step ``t`` holds the first ``sizes[t]`` sequences,
    ``sizes`` non-increasing), ``h0``, ``c0`` (B, H) and the hidden weight
    ``w`` (4H, H) with the gate blocks interleaved as ``F.lstm`` expects
    (column ``4j + g`` for unit ``j`` and gate ``g`` in a, i, f, o order).
    Per step ``z_t = gates_in_t + h_{t-1} W^T``, ``c_t = tanh(a) sigmoid(i) +
    sigmoid(f) c_{t-1}``, ``h_t = sigmoid(o) tanh(c_t)``. Outputs: ``hs``
    (N, H) and the final ``h``, ``c`` of every sequence (B, H).

    Why a node of its own: per-step ``F.linear`` nodes make the backward pass
    compute and sum one full (4H, H) weight gradient per time step (at H =
    1024, 16 MB written, allocated and added per step: most of a paper-size
    update on a CPU). Here the backward pass stacks the gate gradients of all
    steps and forms the weight gradient in one matrix product
    ``G^T [h_{t-1}]``. Gradients are first order only (no double backprop).

    On a CPU the backward pass flushes subnormal gradient values (below
    ``finfo(dtype).tiny``, 1.2e-38 for float32) to zero, as a GPU's
    flush-to-zero mode does: over hundreds of steps the gradient of a long
    review decays into that range, where x86 arithmetic is 15-70x slower
    (measured: a (32, 4096) x (4096, 1024) product takes 170 ms instead of
    2.4 ms), while such values change no parameter (Adam's eps alone is 1e-8).
    """

    def __init__(self, sizes):
        self.sizes = [int(s) for s in sizes]

    def _fused(self, array):
        """Whether this pass runs the fused CUDA step kernels (float32 on a GPU)."""
        return FUSED_GPU_STEPS and not isinstance(array, np.ndarray) and array.dtype == np.float32

    def forward(self, inputs):
        gates_in, h0, c0, w = inputs
        xp = chainer.backend.get_array_module(gates_in)
        n, hidden = gates_in.shape[0], w.shape[1]
        hs = xp.empty((n, hidden), gates_in.dtype)
        self.activated = xp.empty_like(gates_in)          # tanh(a), sigmoid(i), sigmoid(f), sigmoid(o)
        self.cells = xp.empty((n, hidden), gates_in.dtype)
        h, c = h0.copy(), c0.copy()
        self.retain_inputs((1, 2, 3))
        self.retain_outputs((0,))
        if self._fused(gates_in):
            return self._forward_fused(xp.ascontiguousarray(gates_in), w, hs, h, c)
        offset = 0
        for size in self.sizes:
            z = gates_in[offset:offset + size] + h[:size] @ w.T
            gates = z.reshape(size, hidden, 4)
            act = self.activated[offset:offset + size].reshape(size, hidden, 4)
            act[:, :, 0] = xp.tanh(gates[:, :, 0])
            act[:, :, 1:] = xp.tanh(gates[:, :, 1:] * 0.5) * 0.5 + 0.5      # sigmoid, as F.lstm computes it
            c_new = act[:, :, 0] * act[:, :, 1] + act[:, :, 2] * c[:size]
            h_new = act[:, :, 3] * xp.tanh(c_new)
            self.cells[offset:offset + size] = c_new
            hs[offset:offset + size] = h_new
            c[:size], h[:size] = c_new, h_new
            offset += size
        return hs, h, c

    def _forward_fused(self, gates_in, w, hs, h, c):
        """GPU forward: per step one cuBLAS product and one fused kernel (gates, cell, output)."""
        from interpretable_adv.kernels import lstm_step_forward_gpu

        xp = chainer.backend.get_array_module(gates_in)
        hw = xp.empty((self.sizes[0], gates_in.shape[1]), gates_in.dtype)
        offset = 0
        for size in self.sizes:
            rows = slice(offset, offset + size)
            xp.matmul(h[:size], w.T, out=hw[:size])
            lstm_step_forward_gpu(gates_in[rows], hw[:size], self.activated[rows], self.cells[rows], hs[rows],
                                  h[:size], c[:size])
            offset += size
        return hs, h, c

    def _previous_states(self, hs, h0, c0):
        """``h_{t-1}`` and ``c_{t-1}`` for every stacked row (N, H)."""
        xp = chainer.backend.get_array_module(hs)
        h_prev, c_prev = xp.empty_like(hs), xp.empty_like(self.cells)
        h_prev[:self.sizes[0]], c_prev[:self.sizes[0]] = h0[:self.sizes[0]], c0[:self.sizes[0]]
        offset = self.sizes[0]
        previous = 0
        for size in self.sizes[1:]:
            h_prev[offset:offset + size] = hs[previous:previous + size]
            c_prev[offset:offset + size] = self.cells[previous:previous + size]
            previous, offset = offset, offset + size
        return h_prev, c_prev

    def backward(self, indexes, grad_outputs):
        h0, c0, w = self.get_retained_inputs()
        (hs,) = self.get_retained_outputs()
        h0, c0, w, hs = h0.array, c0.array, w.array, hs.array
        g_hs, g_hlast, g_clast = (None if g is None else g.array for g in grad_outputs)
        xp = chainer.backend.get_array_module(hs)
        n, hidden = hs.shape
        batch = h0.shape[0]
        h_prev, c_prev = self._previous_states(hs, h0, c0)
        gh = xp.zeros((batch, hidden), hs.dtype) if g_hlast is None else g_hlast.copy()
        gc = xp.zeros((batch, hidden), hs.dtype) if g_clast is None else g_clast.copy()
        # Rows >= sizes[t] have ended before step t: their final-state gradients wait in gh/gc untouched
        # until the loop reaches their last step, where they are the running gradients.
        g_gates = xp.empty((n, 4 * hidden), hs.dtype)
        if self._fused(hs):
            self._backward_fused(g_hs, gh, gc, g_gates, c0, w)
            g_w = g_gates.T @ h_prev
            grads = {0: g_gates, 1: gh, 2: gc, 3: g_w}
            return tuple(chainer.Variable(grads[i]) for i in indexes)
        flush = xp is np
        offsets = [0]
        for size in self.sizes[:-1]:
            offsets.append(offsets[-1] + size)
        for offset, size in zip(reversed(offsets), reversed(self.sizes)):
            rows = slice(offset, offset + size)
            dh = gh[:size] if g_hs is None else gh[:size] + g_hs[rows]
            act = self.activated[rows].reshape(size, hidden, 4)
            a, i, f, o = act[:, :, 0], act[:, :, 1], act[:, :, 2], act[:, :, 3]
            tanh_c = xp.tanh(self.cells[rows])
            dc = gc[:size] + dh * o * (1 - tanh_c * tanh_c)
            dz = g_gates[rows].reshape(size, hidden, 4)
            dz[:, :, 0] = dc * i * (1 - a * a)
            dz[:, :, 1] = dc * a * i * (1 - i)
            dz[:, :, 2] = dc * c_prev[rows] * f * (1 - f)
            dz[:, :, 3] = dh * tanh_c * o * (1 - o)
            if flush:
                _flush_subnormals(dz)
            gc[:size] = dc * f
            gh[:size] = g_gates[rows] @ w
            if flush:
                _flush_subnormals(gc[:size])
                _flush_subnormals(gh[:size])
        g_w = g_gates.T @ h_prev
        grads = {0: g_gates, 1: gh, 2: gc, 3: g_w}
        return tuple(chainer.Variable(grads[i]) for i in indexes)


    def _backward_fused(self, g_hs, gh, gc, g_gates, c0, w):
        """GPU backward: per step one fused kernel (gate gradients, cell gradient) and one cuBLAS product."""
        from interpretable_adv.kernels import lstm_step_backward_gpu

        xp = chainer.backend.get_array_module(g_gates)
        if g_hs is not None:
            g_hs = xp.ascontiguousarray(g_hs)
        c0 = xp.ascontiguousarray(c0)
        offsets = [0]
        for size in self.sizes[:-1]:
            offsets.append(offsets[-1] + size)
        for step in reversed(range(len(self.sizes))):
            size, offset = self.sizes[step], offsets[step]
            rows = slice(offset, offset + size)
            c_prev = c0[:size] if step == 0 else self.cells[offsets[step - 1]:offsets[step - 1] + size]
            lstm_step_backward_gpu(self.activated[rows], self.cells[rows], c_prev,
                                   None if g_hs is None else g_hs[rows], gh[:size], gc[:size], g_gates[rows])
            xp.matmul(g_gates[rows], w, out=gh[:size])


# The GPU path of LSTMRecurrence runs fused CUDA step kernels (kernels.LSTM_STEP_SOURCE); False runs
# the same CuPy array code as the CPU (the tests compare both).
FUSED_GPU_STEPS = True


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

    hs, hy_sorted, cy_sorted = LSTMRecurrence(sizes).apply((projected, h, c, hidden_weight))
    outputs = F.split_axis(hs, np.cumsum(sizes)[:-1].tolist(), axis=0) if len(sizes) > 1 else [hs]
    inverse = np.argsort(order)
    inverse_xp = xp.asarray(inverse)
    hy = F.expand_dims(F.get_item(hy_sorted, inverse_xp), 0)
    cy = F.expand_dims(F.get_item(cy_sorted, inverse_xp), 0)
    ys_sorted = F.transpose_sequence(outputs)
    ys = [ys_sorted[i] for i in inverse]
    return hy, cy, ys
