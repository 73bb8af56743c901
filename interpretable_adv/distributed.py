"""Data-parallel training on ChainerMN: ranks, sharded global batches, rank-0 writes.

``mpiexec -n N iadv train ... --communicator naive`` (or ``pure_nccl`` on GPUs)
runs N processes. Design, and why:

* **Global batches, sharded.** Every rank builds the *same* iterator over the
  whole training set with the global batch ``N x batchsize`` (same seed, same
  order, same length-bucketing) and trains on its own slice of each global
  batch (:class:`ShardedIterator`). So N ranks x batch B see exactly the data
  of one process x batch N*B, in the same order, whatever N is; with the
  gradients averaged by ChainerMN's multi-node optimizer, N ranks x B give the
  parameters of one process x N*B (tested with dropout 0). ``batchsize`` is per
  rank, as in ChainerMN's examples. (ChainerMN's ``scatter_dataset`` would
  hand each rank a fixed part of the data instead, which ties the data order
  to N.)
* **Identical replicas.** All ranks initialise from the same seed, and the
  parameters are broadcast from rank 0 before the first update; the neighbour
  table of iAdvT/SPGD is then computed deterministically on every rank from
  identical embeddings (no communication; identical by construction).
* **Own dropout streams.** Before every update a rank reseeds NumPy's
  generator (CPU dropout) from (seed, rank, iteration), so each rank has its
  own masks and a resumed run draws exactly what an uninterrupted one would.
* **Rank 0 writes.** ``args.json``, logs, snapshots, ``best_model.npz``,
  ``lm.npz`` and ``results.json`` come from rank 0 only; every rank reads the
  same snapshot on resume (a shared file system across nodes).
* **Dev accuracy** is counted over shards of the dev set and summed across
  ranks (exact counts; ChainerMN's multi-node evaluator would average the
  ranks' means instead).

Resuming is well defined on any number of ranks N' with the same global batch
(``N' x batchsize' = N x batchsize``): data order, parameters and optimizer
state do not depend on N. The LM's carried LSTM state is per rank: on a
resume, ranks other than 0 restart their streams' state from zero (as at an
epoch boundary).
"""

import os

import numpy as np

# ChainerMN 7.8's communicators; only ``naive`` runs on CPUs (the others move GPU arrays).
COMMUNICATORS = ("naive", "flat", "non_cuda_aware", "pure_nccl")
CPU_COMMUNICATORS = ("naive",)
# Launchers set one of these to the number of processes.
_WORLD_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS")


def launched_under_mpi():
    """Whether this process was started by ``mpiexec`` with more than one process."""
    return any(int(os.environ.get(name, "1") or 1) > 1 for name in _WORLD_SIZE_VARIABLES)


# ... and one of these to this process's rank.
_WORLD_RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")


def launched_rank():
    """This process's rank as ``mpiexec`` set it (0 when not launched by MPI); read without starting MPI."""
    for name in _WORLD_RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


class Distribution:
    """This process's place in a data-parallel run: ``rank``, ``size`` and the ChainerMN communicator.

    ``Distribution.single()`` is the ordinary one-process run.
    """

    def __init__(self, communicator=None):
        self.communicator = communicator
        self.rank = communicator.rank if communicator is not None else 0
        self.size = communicator.size if communicator is not None else 1

    @classmethod
    def single(cls):
        return cls(None)

    @classmethod
    def from_config(cls, config):
        """The run's distribution: ``config['communicator']``, else ``naive``/``pure_nccl`` under mpiexec."""
        name = config.get("communicator")
        on_cpu = not str(config.get("device")).startswith("@cupy") and not str(config.get("device")).isdigit()
        if name is None and launched_under_mpi():
            name = "naive" if on_cpu else "pure_nccl"
        if name is None:
            return cls.single()
        from interpretable_adv.errors import UsageError

        if on_cpu and name not in CPU_COMMUNICATORS:
            raise UsageError("--communicator %s needs GPUs (--device N, one per process); on CPUs use "
                             "--communicator naive" % name)

        try:
            import chainermn
            import mpi4py  # noqa: F401  (ChainerMN needs it; a clear message when it is missing)
        except ImportError as exc:
            raise UsageError("--communicator %s needs MPI: pip install -e .[mpi] (%s)" % (name, exc)) from None
        communicator = chainermn.create_communicator(name)
        chainermn.global_except_hook.add_hook()   # an uncaught error on one rank aborts all (no rank left waiting)
        return cls(communicator)

    @property
    def is_writer(self):
        return self.rank == 0

    @property
    def active(self):
        return self.size > 1

    def global_batch(self, batchsize):
        return batchsize * self.size

    def multi_node_optimizer(self, optimizer):
        """ChainerMN's multi-node optimizer (gradients averaged over the ranks before each update).

        Wrapped so that every gradient is C-contiguous before ChainerMN
        averages it: ChainerMN reduces a contiguous *copy* of a non-contiguous
        gradient and leaves the gradient itself rank-local (found here: the
        LSTM's weight gradients arrive as views of one stacked array and were
        silently not averaged).
        """
        if not self.active:
            return optimizer
        import chainermn

        return _ContiguousGradients(chainermn.create_multi_node_optimizer(optimizer, self.communicator))

    def synchronise_parameters(self, optimizer, model):
        """Broadcast rank 0's parameters now, so that the first update is a real one on every rank.

        (ChainerMN's optimizer would otherwise spend the first ``update()``
        broadcasting instead of updating.)
        """
        if not self.active:
            return
        self.communicator.bcast_data(model)
        optimizer.is_changed(optimizer.target)   # records the parameter set: the next update is an update

    def on_writer(self, function):
        """``function()`` on rank 0 only, its outcome shared: every rank returns its value or raises its error.

        For what one rank must do for all (take the output's lock, choose the
        snapshot): a :class:`~interpretable_adv.errors.UsageError` on rank 0
        is raised on every rank with the same message, so that all exit 2
        (and the command line prints it once, on rank 0).
        """
        if not self.active:
            return function()
        from interpretable_adv.errors import UsageError

        outcome = None
        if self.is_writer:
            try:
                outcome = ("value", function())
            except Exception as exc:   # shared, so that no rank waits for a broadcast that never comes
                self.communicator.bcast_obj(("error", " ".join(str(exc).split())), root=0)
                raise
        outcome = self.communicator.bcast_obj(outcome, root=0)
        if outcome[0] == "error":
            raise UsageError(outcome[1])
        return outcome[1]

    def sum(self, values):
        """Element-wise sum of a list of numbers over the ranks (every rank gets the result)."""
        if not self.active:
            return list(values)
        return [float(v) for v in self.communicator.allreduce_obj(np.asarray(values, dtype=np.float64))]

    def dropout_seed(self, seed, iteration):
        """NumPy seed of this rank's dropout masks at ``iteration``."""
        return int(np.random.SeedSequence([int(seed), self.rank, int(iteration)]).generate_state(1)[0])


class _ContiguousGradients:
    """An optimizer proxy whose ``update()`` first makes every parameter gradient C-contiguous."""

    def __init__(self, optimizer):
        object.__setattr__(self, "_optimizer", optimizer)

    def update(self, *args, **kwargs):
        import chainer

        for param in self._optimizer.target.params():
            grad = param.grad
            if grad is not None and not grad.flags.c_contiguous:
                param.grad = chainer.backend.get_array_module(grad).ascontiguousarray(grad)
        return self._optimizer.update(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._optimizer, name)

    def __setattr__(self, name, value):
        setattr(self._optimizer, name, value)


def _iterator_base():
    import chainer

    return chainer.dataset.Iterator


class ShardedIterator(_iterator_base()):
    """This rank's slice of every batch of ``iterator`` (which yields global batches).

    Rank ``r`` of ``n`` takes ``np.array_split(batch, n)[r]``; the epoch
    counters and the snapshot state are the wrapped iterator's (identical on
    every rank).
    """

    def __init__(self, iterator, rank, size):
        self.iterator, self.rank, self.size = iterator, rank, size

    def __next__(self):
        batch = self.iterator.next()
        return self._slice(batch)

    next = __next__

    def __iter__(self):
        return self

    def _slice(self, batch):
        if isinstance(batch, tuple):          # the LM's (x, t) stream arrays: shard the streams (rows)
            return tuple(np.array_split(part, self.size)[self.rank] for part in batch)
        chunks = np.array_split(np.arange(len(batch)), self.size)
        return [batch[i] for i in chunks[self.rank]]

    @property
    def epoch(self):
        return self.iterator.epoch

    @property
    def is_new_epoch(self):
        return self.iterator.is_new_epoch

    @property
    def epoch_detail(self):
        return self.iterator.epoch_detail

    @property
    def previous_epoch_detail(self):
        return self.iterator.previous_epoch_detail

    def __getattr__(self, name):             # batches_per_epoch and the like
        if name == "iterator":
            raise AttributeError(name)
        return getattr(self.iterator, name)

    def serialize(self, serializer):
        self.iterator.serialize(serializer)

    def finalize(self):
        finalize = getattr(self.iterator, "finalize", None)
        if finalize is not None:
            finalize()
