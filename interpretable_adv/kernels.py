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


# ----------------------------------------------------------------------------- LSTM step (GPU)

LSTM_STEP_THREADS = 256

LSTM_STEP_SOURCE = r"""
// One time step of the LSTM recurrence for `size` rows of `hidden` units; gate blocks interleaved
// (column 4j + g of a row holds gate g of unit j, in the order a, i, f, o), sigmoid computed as
// tanh(x / 2) / 2 + 1/2 like the CPU path. One thread per (row, unit).

__device__ __forceinline__ float lstm_sigmoid(float x) { return tanhf(x * 0.5f) * 0.5f + 0.5f; }

extern "C" __global__
void lstm_step_forward(const float* __restrict__ gates_in, const float* __restrict__ hw,
                       float* __restrict__ act, float* __restrict__ cells, float* __restrict__ hs,
                       float* __restrict__ h, float* __restrict__ c, const int size, const int hidden)
{
    const long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= (long long)size * hidden) return;
    const long long r = k / hidden;
    const int j = (int)(k - r * hidden);
    const long long g = r * 4 * hidden + 4 * j;           // the unit's four gates in row r
    const float a = tanhf(gates_in[g] + hw[g]);
    const float i = lstm_sigmoid(gates_in[g + 1] + hw[g + 1]);
    const float f = lstm_sigmoid(gates_in[g + 2] + hw[g + 2]);
    const float o = lstm_sigmoid(gates_in[g + 3] + hw[g + 3]);
    act[g] = a; act[g + 1] = i; act[g + 2] = f; act[g + 3] = o;
    const float c_new = a * i + f * c[k];
    const float h_new = o * tanhf(c_new);
    cells[k] = c_new; hs[k] = h_new; c[k] = c_new; h[k] = h_new;
}

extern "C" __global__
void lstm_step_backward(const float* __restrict__ act, const float* __restrict__ cells,
                        const float* __restrict__ c_prev, const float* __restrict__ g_hs,
                        const float* __restrict__ gh, float* __restrict__ gc, float* __restrict__ dz,
                        const int size, const int hidden, const int has_g_hs)
{
    const long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= (long long)size * hidden) return;
    const long long r = k / hidden;
    const int j = (int)(k - r * hidden);
    const long long g = r * 4 * hidden + 4 * j;
    const float a = act[g], i = act[g + 1], f = act[g + 2], o = act[g + 3];
    const float dh = gh[k] + (has_g_hs ? g_hs[k] : 0.0f);
    const float tanh_c = tanhf(cells[k]);
    const float dc = gc[k] + dh * o * (1.0f - tanh_c * tanh_c);
    dz[g] = dc * i * (1.0f - a * a);
    dz[g + 1] = dc * a * i * (1.0f - i);
    dz[g + 2] = dc * c_prev[k] * f * (1.0f - f);
    dz[g + 3] = dh * tanh_c * o * (1.0f - o);
    gc[k] = dc * f;
}
"""

_lstm_kernels = {}


def _lstm_kernel(name):
    if name not in _lstm_kernels:
        import cupy
        _lstm_kernels[name] = cupy.RawKernel(LSTM_STEP_SOURCE, name)
    return _lstm_kernels[name]


def _blocks(size, hidden):
    return ((size * hidden + LSTM_STEP_THREADS - 1) // LSTM_STEP_THREADS,)


def lstm_step_forward_gpu(gates_in, hw, act, cells, hs, h, c):
    """Fused gates, cell and output of one step on the GPU (float32, C-contiguous row blocks).

    ``gates_in``, ``hw`` and ``act`` are (size, 4H); ``cells`` and ``hs`` (size, H) receive the
    step's rows; ``h`` and ``c`` (size, H) are the running state, updated in place.
    """
    import cupy

    size, hidden = cells.shape
    _lstm_kernel("lstm_step_forward")(_blocks(size, hidden), (LSTM_STEP_THREADS,),
                                      (gates_in, hw, act, cells, hs, h, c, cupy.int32(size), cupy.int32(hidden)))


def lstm_step_backward_gpu(act, cells, c_prev, g_hs, gh, gc, dz):
    """Fused gate gradients of one step on the GPU: ``dz`` (size, 4H) and ``gc`` (in place) from ``gh``.

    ``g_hs`` (size, H) is the gradient arriving at the step's outputs, or None.
    """
    import cupy

    size, hidden = cells.shape
    dummy = g_hs if g_hs is not None else gh
    _lstm_kernel("lstm_step_backward")(_blocks(size, hidden), (LSTM_STEP_THREADS,),
                                       (act, cells, c_prev, dummy, gh, gc, dz, cupy.int32(size), cupy.int32(hidden),
                                        cupy.int32(g_hs is not None)))
