"""The CuPy top-k kernel: compiles with nvcc here; matches the NumPy reference on a GPU."""

import shutil
import subprocess

import numpy as np
import pytest

from interpretable_adv import adversarial as adv
from interpretable_adv.kernels import TOPK_MASK_NAME, TOPK_MASK_SOURCE
from tests.helpers import gpu_available


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_kernel_source_compiles_with_nvcc(tmp_path):
    source = tmp_path / "topk.cu"
    source.write_text(TOPK_MASK_SOURCE)
    result = subprocess.run(["nvcc", "--ptx", "-o", str(tmp_path / "topk.ptx"), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert TOPK_MASK_NAME in (tmp_path / "topk.ptx").read_text()


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
