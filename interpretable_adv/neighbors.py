"""Nearest-neighbour table for iAdvT and SPGD, refreshed from the current embeddings.

:class:`NeighborTable` answers "the K nearest words (cosine) of word w in the
embedding matrix as it was at the last refresh". ``mode='full'`` computes the
table for the whole vocabulary at each refresh (blocked, never V x V);
``mode='lazy'`` keeps a copy of the normalised embeddings of the refresh and
computes a word's row the first time a batch needs it, with the same blocked
top-K: the answers are identical, but words that training never meets before
the next refresh cost nothing. :class:`~interpretable_adv.training.extensions.NeighborRefresh`
is the Trainer extension (paper: every 50 iterations; upstream: every epoch).
"""

import chainer

from interpretable_adv.topk import normalized_rows, pad_to_groups, top_k_cosine

MODES = ("lazy", "full")   # a row when a batch first needs it, or the whole table at each refresh
REFRESH_UNITS = ("iteration", "epoch")   # the table is refreshed every N updates (the paper) or epochs (upstream)


class NeighborTable:
    def __init__(self, k, mode="lazy", block_size=None):
        if mode not in MODES:
            raise ValueError("neighbor mode must be one of %s, got %r" % (MODES, mode))
        self.k, self.mode, self.block_size = k, mode, block_size
        self.unit = self.table = self.known = None
        self.refreshes = 0
        self.rows_computed = 0

    def refresh(self, embeddings):
        """Take a new snapshot of the embedding matrix (V, D)."""
        xp = chainer.backend.get_array_module(embeddings)
        n_vocab = embeddings.shape[0]
        # Padded once per refresh (zero rows), so that each lookup's rows cost no copy of the matrix.
        self.unit = pad_to_groups(normalized_rows(embeddings.astype(xp.float32, copy=True)))
        self.table = xp.zeros((n_vocab, self.k), dtype=xp.int32)
        self.known = xp.zeros(n_vocab, dtype=bool)
        self.refreshes += 1
        if self.mode == "full":
            self._compute(xp.arange(n_vocab))

    def _compute(self, rows):
        self.table[rows] = top_k_cosine(self.unit, rows, self.k, True, self.block_size, len(self.table))
        self.known[rows] = True
        self.rows_computed += int(len(rows))

    def lookup(self, word_ids):
        """The table, with the rows of ``word_ids`` guaranteed computed: (V, K) int32."""
        if self.unit is None:
            raise RuntimeError("NeighborTable.lookup before the first refresh")
        if self.mode == "full":   # every row was computed at the refresh: nothing to check (no GPU sync)
            return self.table
        xp = chainer.backend.get_array_module(self.unit)
        needed = xp.unique(xp.asarray(word_ids).ravel())
        missing = needed[~self.known[needed]]
        if len(missing):
            self._compute(missing)
        return self.table

    def serialize(self, serializer):
        loading = isinstance(serializer, chainer.serializer.Deserializer)
        self.refreshes = serializer("refreshes", self.refreshes)
        try:
            self.rows_computed = int(serializer("rows_computed", self.rows_computed))
        except KeyError:   # a snapshot from before this counter was saved
            pass
        if self.refreshes == 0:
            return
        arrays = {}
        for name in ("unit", "table", "known"):
            value = None if loading else chainer.backends.cuda.to_cpu(getattr(self, name))
            arrays[name] = serializer(name, value)
        if loading:
            self._restore = arrays

    def to_device(self, device):
        """Move a table restored from a snapshot to ``device``."""
        restore = getattr(self, "_restore", None)
        if restore is not None:
            self.unit, self.table, self.known = (device.send(restore[n]) for n in ("unit", "table", "known"))
            self._restore = None
