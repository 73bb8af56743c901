"""Output layers of the language model: an adaptive softmax and a full softmax.

``AdaptiveSoftmax`` implements the adaptive softmax of Grave, Joulin, Cissé,
Grangier and Jégou (2017), "Efficient softmax approximation for GPUs" (ICML),
for a vocabulary whose ids are sorted by decreasing frequency (``<eos>`` = 0,
``<unk>`` = 1, then words by corpus frequency; see :mod:`interpretable_adv.data`).

Cluster layout, for cutoffs ``(c_0, c_1, ..., c_{K-1})`` and ``n_vocab`` words::

    head     : ids [0, c_0)          (the shortlist of frequent words)
               + one logit per tail cluster (K logits)
    tail 0   : ids [c_0, c_1)
    tail 1   : ids [c_1, c_2)
    ...
    tail K-1 : ids [c_{K-1}, n_vocab)

The head is a ``Linear(in_size -> c_0 + K)``. Tail cluster ``i`` first projects
the hidden state to ``in_size // div_value ** (i + 1)`` dimensions (no bias; at
least 1) and then scores its words with ``Linear(proj -> cluster size)``, so the
rarer a cluster, the cheaper its (low-rank) classifier. The log-probability of a
word is

* ``log p_head(w)`` for a shortlist word ``w < c_0``;
* ``log p_head(cluster i) + log p_tail_i(w)`` for a word ``w`` of cluster ``i``.

Training only evaluates a tail for the rows whose target lies in it, which is
where the speed-up over a full softmax comes from.

``FullSoftmax`` is a plain ``Linear(in_size -> n_vocab)`` softmax with the same
interface (``nll``, ``log_prob``, calling the link), so the two are
interchangeable in the language model.

Both links work on NumPy and CuPy arrays (the array module is taken from the
input with :func:`chainer.backend.get_array_module`). Importing this module has
no side effects.
"""

import numbers

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np

__all__ = ["AdaptiveSoftmax", "FullSoftmax", "effective_cutoffs"]


def effective_cutoffs(cutoffs, n_vocab):
    """Validate ``cutoffs`` and drop those that are ``>= n_vocab``.

    Cutoffs must be positive integers in strictly increasing order, otherwise a
    :class:`ValueError` is raised. Cutoffs at or beyond the vocabulary size
    would create empty clusters, so they are dropped: with every cutoff dropped
    the adaptive softmax is a plain (full) softmax over ``n_vocab`` words.
    Returns a tuple of ints.
    """
    if isinstance(n_vocab, bool) or not isinstance(n_vocab, numbers.Integral) or n_vocab < 1:
        raise ValueError("n_vocab must be a positive integer, got {!r}".format(n_vocab))
    try:
        values = list(cutoffs)
    except TypeError:
        raise ValueError("cutoffs must be a sequence of integers, got {!r}".format(cutoffs))
    for c in values:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise ValueError("cutoffs must be integers, got {!r}".format(cutoffs))
        if c <= 0:
            raise ValueError("cutoffs must be positive, got {!r}".format(cutoffs))
    for a, b in zip(values, values[1:]):
        if b <= a:
            raise ValueError("cutoffs must be strictly increasing, got {!r}".format(cutoffs))
    return tuple(int(c) for c in values if c < n_vocab)


def _as_array(x):
    return x.array if isinstance(x, chainer.Variable) else x


class _TailCluster(chainer.Chain):
    """One tail cluster: ``proj`` (in_size -> proj_size, no bias), then ``out``."""

    def __init__(self, in_size, proj_size, size, initialW=None):
        super().__init__()
        with self.init_scope():
            self.proj = L.Linear(in_size, proj_size, nobias=True, initialW=initialW)
            self.out = L.Linear(proj_size, size, initialW=initialW)

    def forward(self, h):
        return self.out(self.proj(h))


class AdaptiveSoftmax(chainer.Chain):
    """Adaptive softmax of Grave et al. (2017), "Efficient softmax approximation for GPUs".

    Args:
        in_size: size of the hidden states fed to the layer.
        n_vocab: vocabulary size; ids must be sorted by decreasing frequency.
        cutoffs: strictly increasing positive ids where the tail clusters start.
            The shortlist is ``[0, cutoffs[0])``; tail cluster ``i`` covers
            ``[cutoffs[i], cutoffs[i + 1])``, the last one ends at ``n_vocab``.
            Cutoffs ``>= n_vocab`` are dropped (no cutoff left: full softmax).
        div_value: tail cluster ``i`` projects to
            ``max(1, int(in_size // div_value ** (i + 1)))`` dimensions.
        initialW: initializer passed to every ``Linear`` (``None``: Chainer's default).

    Attributes:
        cutoffs: the effective cutoffs (after dropping those ``>= n_vocab``).
        n_clusters: number of tail clusters.
        shortlist_size: number of words scored directly by the head.
        cluster_bounds: ``[(start, end), ...]`` id range of every tail cluster.
        proj_sizes: projection size of every tail cluster.
        head: ``Linear(in_size -> shortlist_size + n_clusters)``.
        tails: ``ChainList`` of the tail clusters (each with ``proj`` and ``out``).
    """

    def __init__(self, in_size, n_vocab, cutoffs=(2000, 10000), div_value=4.0, initialW=None):
        super().__init__()
        if isinstance(in_size, bool) or not isinstance(in_size, numbers.Integral) or in_size < 1:
            raise ValueError("in_size must be a positive integer, got {!r}".format(in_size))
        if not div_value > 0:
            raise ValueError("div_value must be positive, got {!r}".format(div_value))
        self.in_size = int(in_size)
        self.cutoffs = effective_cutoffs(cutoffs, n_vocab)
        self.n_vocab = int(n_vocab)
        self.div_value = div_value
        self.n_clusters = len(self.cutoffs)
        self.shortlist_size = self.cutoffs[0] if self.cutoffs else self.n_vocab
        ends = self.cutoffs[1:] + (self.n_vocab,)
        self.cluster_bounds = list(zip(self.cutoffs, ends))
        self.proj_sizes = [max(1, int(self.in_size // (div_value ** (i + 1))))
                           for i in range(self.n_clusters)]
        with self.init_scope():
            self.head = L.Linear(self.in_size, self.shortlist_size + self.n_clusters, initialW=initialW)
            self.tails = chainer.ChainList(*[
                _TailCluster(self.in_size, proj, end - start, initialW=initialW)
                for proj, (start, end) in zip(self.proj_sizes, self.cluster_bounds)])

    def nll(self, h, t):
        """Per-row negative log-likelihood of targets ``t`` (N,) given ``h`` (N, in_size).

        The head is computed for every row; each tail only for the rows whose
        target falls in that cluster. Returns a Variable of shape (N,).

        The rows of every cluster come from one stable sort of the rows by
        cluster and one transfer of the cluster sizes, so a GPU waits for the
        host once per call rather than twice per cluster (boolean masks and
        ``nonzero`` each need the count on the host).
        """
        xp = chainer.backend.get_array_module(h)
        t = _as_array(t)
        head_logp = F.log_softmax(self.head(h))
        # cluster 0 = the shortlist, i + 1 = tail i (targets in [cutoffs[i], cutoffs[i + 1]))
        cluster = xp.searchsorted(xp.asarray(self.cutoffs, dtype=t.dtype), t, side="right").astype(t.dtype)
        head_t = xp.where(cluster == 0, t, self.shortlist_size - 1 + cluster).astype(t.dtype, copy=False)
        nll = -F.select_item(head_logp, head_t)
        if not self.n_clusters:
            return nll
        order = xp.argsort(cluster, kind="stable") if xp is np else xp.argsort(cluster)
        counts = chainer.backends.cuda.to_cpu(xp.bincount(cluster, minlength=self.n_clusters + 1)).tolist()
        ends = np.cumsum(counts).tolist()
        for i, (tail, (start, _)) in enumerate(zip(self.tails, self.cluster_bounds)):
            if counts[i + 1] == 0:
                continue
            rows = order[ends[i]:ends[i + 1]]
            tail_logp = F.log_softmax(tail(F.get_item(h, rows)))
            tail_t = (t[rows] - start).astype(t.dtype, copy=False)
            nll = F.scatter_add(nll, rows, -F.select_item(tail_logp, tail_t))
        return nll

    def log_prob(self, h):
        """Full log-probabilities (N, n_vocab) over the whole vocabulary (all clusters)."""
        head_logp = F.log_softmax(self.head(h))
        if not self.n_clusters:
            return head_logp
        s = self.shortlist_size
        parts = [head_logp[:, :s]]
        for i, tail in enumerate(self.tails):
            tail_logp = F.log_softmax(tail(h))
            cluster_logp = F.broadcast_to(head_logp[:, s + i:s + i + 1], tail_logp.shape)
            parts.append(cluster_logp + tail_logp)
        return F.concat(parts, axis=1)

    def forward(self, h, t):
        """Mean negative log-likelihood (scalar Variable); called as ``link(h, t)``."""
        return F.mean(self.nll(h, t))


class FullSoftmax(chainer.Chain):
    """Plain softmax over ``Linear(in_size -> n_vocab)``, interchangeable with AdaptiveSoftmax."""

    def __init__(self, in_size, n_vocab, initialW=None):
        super().__init__()
        self.in_size = in_size
        self.n_vocab = n_vocab
        with self.init_scope():
            self.out = L.Linear(in_size, n_vocab, initialW=initialW)

    def nll(self, h, t):
        """Per-row negative log-likelihood (N,) of targets ``t`` given ``h``."""
        return -F.select_item(F.log_softmax(self.out(h)), _as_array(t))

    def log_prob(self, h):
        """Log-probabilities (N, n_vocab)."""
        return F.log_softmax(self.out(h))

    def forward(self, h, t):
        """Mean negative log-likelihood (scalar Variable); called as ``link(h, t)``."""
        return F.mean(self.nll(h, t))
