"""``iadv bench``: speed and memory of every costly stage, in one run, as tables and JSON.

Sections (``--sections``, all by default):

``matmul``      this machine's float32 matrix-product rate: a large square product (the
                hardware's practical peak) and the LSTM's own shapes at each size;
``classifier``  update-step throughput of baseline, AdvT, iAdvT and SPGD at each size (real
                IMDB batches as in training), peak memory, cost relative to baseline, and the
                achieved FLOP rate of the step (LSTM matrix products, forward and backward);
``neighbors``   the neighbour table at V in {10k, 30k, 87k}, D = 256, K = 15: the full table,
                the rows one refresh window needs (lazy mode) and the naive version (the
                whole V x V similarity matrix, then a sort per row) where it fits in memory;
``topk``        top-k selection: the neighbour-row selection against a full row sort, the SPGD
                sparsification mask against a full sort, and on a GPU the CUDA kernel against
                CuPy's sort;
``lm``          language-model throughput with adaptive and with full softmax over V = 87k.

Every measurement runs in a fresh worker process, so its peak memory (the
worker's peak RSS above what it held before the measurement; GPU: the CuPy
memory pool's bytes) is its own. Timings include one warm-up call that is not
timed. Benchmarks are not tests: nothing here asserts a speed.

Modules: :mod:`.workers` (one measurement, in its own process), :mod:`.plan`
(which measurements, and running each in a fresh worker), :mod:`.tables`
(the report).
"""
