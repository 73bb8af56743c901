"""CUDA kernel for SPGD's sparsification step, and its CuPy launcher.

``TOPK_MASK_SOURCE`` selects, for every review ``b``, the ``keep[b]`` positions
with the largest norms among its first ``lengths[b]`` positions, in one pass
and without sorting: each thread owns one position and counts how many
positions of its review beat it (a larger norm, or an equal norm at an earlier
position); it is kept when that rank is below ``keep[b]``. The review's norms
stream through shared memory in tiles, and a thread stops counting as soon as
its rank reaches ``keep[b]``. Ties go to the earlier position, exactly as in the
NumPy reference :func:`interpretable_adv.adversarial.spgd_sparsify_mask_reference`.

Launch: grid ``(ceil(T / threads), B)``, ``threads`` per block, and
``threads * 4`` bytes of dynamic shared memory.
"""

TOPK_MASK_NAME = "spgd_topk_mask"
TOPK_MASK_THREADS = 256

TOPK_MASK_SOURCE = r"""
extern "C" __global__
void spgd_topk_mask(const float* __restrict__ norms, const int* __restrict__ lengths,
                    const int* __restrict__ keep, bool* __restrict__ mask, const int steps)
{
    extern __shared__ float tile[];
    const int b = blockIdx.y;
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    const int length = min(lengths[b], steps);
    const int wanted = keep[b];
    const float* row = norms + (long long)b * steps;
    const bool valid = t < length;
    const float mine = valid ? row[t] : 0.0f;
    int rank = 0;
    for (int start = 0; start < length; start += blockDim.x) {
        const int j = start + threadIdx.x;
        tile[threadIdx.x] = (j < length) ? row[j] : 0.0f;
        __syncthreads();
        if (valid && rank < wanted) {
            const int count = min((int)blockDim.x, length - start);
            for (int i = 0; i < count; ++i) {
                const float other = tile[i];
                rank += (other > mine) || (other == mine && start + i < t);
            }
        }
        __syncthreads();
    }
    if (t < steps) {
        mask[(long long)b * steps + t] = valid && rank < wanted;
    }
}
"""

_kernel = None


def _get_kernel():
    global _kernel
    if _kernel is None:
        import cupy
        _kernel = cupy.RawKernel(TOPK_MASK_SOURCE, TOPK_MASK_NAME)
    return _kernel


def topk_mask_gpu(norms, lengths, keep):
    """(B, T) bool mask on the GPU: the ``keep[b]`` largest ``norms[b, :lengths[b]]``."""
    import cupy

    norms = cupy.ascontiguousarray(norms, dtype=cupy.float32)
    batch, steps = norms.shape
    lengths = cupy.ascontiguousarray(cupy.asarray(lengths), dtype=cupy.int32)
    keep = cupy.ascontiguousarray(cupy.asarray(keep), dtype=cupy.int32)
    mask = cupy.empty((batch, steps), dtype=cupy.bool_)
    threads = TOPK_MASK_THREADS
    grid = ((steps + threads - 1) // threads, batch)
    _get_kernel()(grid, (threads,), (norms, lengths, keep, mask, cupy.int32(steps)),
                  shared_mem=threads * 4)
    return mask
