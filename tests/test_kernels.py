"""The CuPy top-k kernel: compiles with nvcc here; matches the NumPy reference on a GPU."""

import shutil
import subprocess

import numpy as np
import pytest

from interpretable_adv import adversarial as adv
from interpretable_adv.kernels import TOPK_MASK_NAME
from tests.helpers import gpu_available


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("source_name, kernel_names", [
    ("TOPK_MASK_SOURCE", [TOPK_MASK_NAME]),
    ("LSTM_STEP_SOURCE", ["lstm_step_forward", "lstm_step_backward"]),
])
def test_kernel_sources_compile_with_nvcc(tmp_path, source_name, kernel_names):
    from interpretable_adv import kernels

    source = tmp_path / "kernel.cu"
    source.write_text(getattr(kernels, source_name))
    result = subprocess.run(["nvcc", "--ptx", "-o", str(tmp_path / "kernel.ptx"), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    ptx = (tmp_path / "kernel.ptx").read_text()
    assert all(name in ptx for name in kernel_names)


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("sigma", [0.0, 0.5, 0.75, 0.9])
def test_kernel_matches_reference_on_random_inputs(sigma):
    import cupy

    rng = np.random.default_rng(0)
    for batch, steps in [(1, 1), (7, 300), (32, 2505), (5, 1000)]:
        lengths = rng.integers(0, steps + 1, size=batch)
        norms = rng.random((batch, steps)).astype(np.float32)
        norms[:, ::7] = 0.25          # many exact ties
        expected = adv.spgd_sparsify_mask_reference(norms, lengths, sigma)
        got = adv.spgd_sparsify_mask(cupy.asarray(norms), cupy.asarray(lengths), sigma)
        np.testing.assert_array_equal(cupy.asnumpy(got), expected)


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("with_output_grad", [True, False])
def test_fused_lstm_steps_match_the_cpu_recurrence(with_output_grad):
    """The fused GPU kernels against the NumPy recurrence: outputs, final states and all four gradients."""
    import chainer
    import cupy

    from interpretable_adv import lstm

    rng = np.random.default_rng(1)
    batch, hidden, lengths = 5, 48, np.array([9, 9, 6, 3, 1])
    sizes = [int((lengths > t).sum()) for t in range(lengths.max())]
    n = int(lengths.sum())
    arrays = [(rng.standard_normal(shape) * scale).astype(np.float32) for shape, scale in
              (((n, 4 * hidden), 0.8), ((batch, hidden), 0.5), ((batch, hidden), 0.5), ((4 * hidden, hidden), 0.2))]
    g_hs = rng.standard_normal((n, hidden)).astype(np.float32)
    g_h, g_c = (rng.standard_normal((batch, hidden)).astype(np.float32) for _ in range(2))

    def run(xp):
        inputs = [chainer.Variable(xp.asarray(a)) for a in arrays]
        hs, h, c = lstm.LSTMRecurrence(sizes).apply(inputs)
        total = chainer.functions.sum(h * xp.asarray(g_h)) + chainer.functions.sum(c * xp.asarray(g_c))
        if with_output_grad:
            total = total + chainer.functions.sum(hs * xp.asarray(g_hs))
        total.backward()
        return [chainer.backends.cuda.to_cpu(v) for v in [hs.array, h.array, c.array] + [i.grad for i in inputs]]

    expected = run(np)
    got = run(cupy)
    assert lstm.FUSED_GPU_STEPS
    for name, a, b in zip(["hs", "h", "c", "g_gates_in", "g_h0", "g_c0", "g_w"], got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
