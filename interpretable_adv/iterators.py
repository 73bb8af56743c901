"""Dataset iterators: length-bucketed review batches and parallel token streams (TBPTT).

Both are Chainer iterators with ``epoch``, ``epoch_detail``, ``is_new_epoch``
and a ``serialize`` that stores everything needed for an exact resume (the
order of the current epoch, the position in it and the random state).
"""

import chainer
import numpy as np


class ReviewDataset:
    """(token ids, label) pairs of a :class:`~interpretable_adv.data.ReviewSplit`.

    ``max_length`` keeps the last ``max_length`` ids of a longer review (its
    ending, including ``<eos>``, where the classifier reads out); None keeps
    whole reviews (paper). ``indices`` restricts to a subset.
    """

    def __init__(self, split, max_length=None, indices=None):
        self.split = split
        self.max_length = max_length
        self.indices = np.arange(len(split)) if indices is None else np.asarray(indices)
        lengths = split.lengths[self.indices]
        self.lengths = np.minimum(lengths, max_length) if max_length else lengths

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        ids, label = self.split[int(self.indices[i])]
        if self.max_length and len(ids) > self.max_length:
            ids = ids[-self.max_length:]
        return ids, label

    @property
    def n_tokens(self):
        return int(self.lengths.sum())


class PooledReviews:
    """Several :class:`ReviewDataset` as one, in order: the VAT family's pool of unlabeled reviews.

    The pool both upstream codebases use is the unlabeled split plus the
    training reviews (their labels unused); dev is never in it.
    """

    def __init__(self, *datasets):
        self.datasets = datasets
        self.lengths = np.concatenate([d.lengths for d in datasets])
        self._starts = np.cumsum([0] + [len(d) for d in datasets])

    def __len__(self):
        return int(self._starts[-1])

    def __getitem__(self, i):
        part = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self.datasets[part][i - int(self._starts[part])]

    @property
    def n_tokens(self):
        return int(self.lengths.sum())


class BucketIterator(chainer.dataset.Iterator):
    """Batches of reviews of similar length, in random order.

    Each epoch shuffles the dataset, cuts it into windows of
    ``batch_size * bucket_batches`` reviews, sorts each window by length and
    cuts it into batches; the batches are then shuffled. Similar lengths keep
    the LSTM's per-step batch large (fewer, bigger matrix products) without
    padding. ``bucket_batches=1`` gives plain random batches; ``shuffle=False``
    gives the dataset order (evaluation).
    """

    def __init__(self, dataset, batch_size, repeat=True, shuffle=True, bucket_batches=8, seed=0):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.dataset = dataset
        self.batch_size = batch_size
        self._repeat = repeat
        self._shuffle = shuffle
        self.bucket_batches = bucket_batches
        self._rng = np.random.RandomState(seed)
        self.reset()

    def reset(self):
        self.epoch = 0
        self.is_new_epoch = False
        self.current_position = 0
        self._previous_epoch_detail = -1.0
        self._batches = self._plan_epoch()

    def _plan_epoch(self):
        n = len(self.dataset)
        if not self._shuffle:
            order = np.arange(n)
            return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        order = self._rng.permutation(n)
        window = self.batch_size * max(1, self.bucket_batches)
        lengths = np.asarray(self.dataset.lengths)
        batches = []
        for start in range(0, n, window):
            chunk = order[start:start + window]
            chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
            batches.extend(chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        return [batches[i] for i in self._rng.permutation(len(batches))]

    def __next__(self):
        if not self._repeat and self.epoch > 0:
            raise StopIteration
        self._previous_epoch_detail = self.epoch_detail
        indices = self._batches[self.current_position]
        batch = [self.dataset[int(i)] for i in indices]
        self.current_position += 1
        if self.current_position >= len(self._batches):
            self.current_position = 0
            self.epoch += 1
            self.is_new_epoch = True
            if self._repeat:
                self._batches = self._plan_epoch()
        else:
            self.is_new_epoch = False
        return batch

    next = __next__

    @property
    def epoch_detail(self):
        return self.epoch + self.current_position / len(self._batches)

    @property
    def previous_epoch_detail(self):
        return None if self._previous_epoch_detail < 0 else self._previous_epoch_detail

    def serialize(self, serializer):
        self.epoch = serializer("epoch", self.epoch)
        self.is_new_epoch = serializer("is_new_epoch", self.is_new_epoch)
        self.current_position = serializer("current_position", self.current_position)
        self._previous_epoch_detail = serializer("previous_epoch_detail", self._previous_epoch_detail)
        loading = isinstance(serializer, chainer.serializer.Deserializer)
        flat = None if loading else np.concatenate(self._batches).astype(np.int64)
        sizes = None if loading else np.array([len(b) for b in self._batches], np.int64)
        flat = serializer("order", flat)
        sizes = serializer("batch_sizes", sizes)
        if loading:
            self._batches = np.split(np.asarray(flat), np.cumsum(sizes)[:-1])
        serialize_random_state(serializer["rng"], self._rng)


class StreamIterator(chainer.dataset.Iterator):
    """``batch_size`` parallel streams over one long token array, ``bptt_len`` steps at a time.

    The token array (reviews concatenated end to end, each ending in
    ``<eos>``) is cut into ``batch_size`` contiguous segments; batch ``i`` is
    ``x = seg[:, i*T:(i+1)*T]`` and ``t = seg[:, i*T+1:(i+1)*T+1]``. The
    hidden state carried across batches therefore continues each stream.

    With ``labels`` (one class per token: the label of its review) a batch is
    ``(x, t, y)``, ``y`` being the labels of the targets ``t``: the step that
    reads the previous review's ``<eos>`` and predicts a review's first word
    already carries that review's label (the class-conditional LM).
    """

    def __init__(self, tokens, batch_size, bptt_len, repeat=True, labels=None):
        tokens = np.asarray(tokens, dtype=np.int32)
        self.segment = (len(tokens) - 1) // batch_size
        if self.segment < bptt_len:
            raise ValueError("need at least batch_size * bptt_len + 1 tokens (got %d)" % len(tokens))
        if labels is not None and len(labels) != len(tokens):
            raise ValueError("labels: %d for %d tokens" % (len(labels), len(tokens)))
        self.inputs = tokens[:batch_size * self.segment].reshape(batch_size, self.segment)
        self.targets = tokens[1:batch_size * self.segment + 1].reshape(batch_size, self.segment)
        self.target_labels = (None if labels is None else
                              np.asarray(labels, dtype=np.int32)[1:batch_size * self.segment + 1]
                              .reshape(batch_size, self.segment))
        self.batch_size = batch_size
        self.bptt_len = bptt_len
        self.batches_per_epoch = self.segment // bptt_len
        self._repeat = repeat
        self.reset()

    def reset(self):
        self.epoch = 0
        self.current_position = 0
        self.is_new_epoch = False
        self._previous_epoch_detail = -1.0

    def __next__(self):
        if not self._repeat and self.epoch > 0:
            raise StopIteration
        self._previous_epoch_detail = self.epoch_detail
        start = self.current_position * self.bptt_len
        window = slice(start, start + self.bptt_len)
        batch = (self.inputs[:, window], self.targets[:, window])
        if self.target_labels is not None:
            batch += (self.target_labels[:, window],)
        self.current_position += 1
        self.is_new_epoch = self.current_position >= self.batches_per_epoch
        if self.is_new_epoch:
            self.current_position = 0
            self.epoch += 1
        return batch

    next = __next__

    @property
    def epoch_detail(self):
        return self.epoch + self.current_position / self.batches_per_epoch

    @property
    def previous_epoch_detail(self):
        return None if self._previous_epoch_detail < 0 else self._previous_epoch_detail

    def serialize(self, serializer):
        self.epoch = serializer("epoch", self.epoch)
        self.current_position = serializer("current_position", self.current_position)
        self.is_new_epoch = serializer("is_new_epoch", self.is_new_epoch)
        self._previous_epoch_detail = serializer("previous_epoch_detail", self._previous_epoch_detail)


def serialize_random_state(serializer, rng=None):
    """Save or restore a NumPy RandomState (the global one when ``rng`` is None).

    Chainer's CPU dropout draws from NumPy's global generator, so storing it in
    snapshots makes a resumed run bit-identical to an uninterrupted one.
    """
    state = (rng or np.random).get_state()
    keys = serializer("keys", state[1].copy())
    pos = serializer("pos", int(state[2]))
    has_gauss = serializer("has_gauss", int(state[3]))
    cached = serializer("cached_gaussian", float(state[4]))
    if isinstance(serializer, chainer.serializer.Deserializer):
        (rng or np.random).set_state((state[0], np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss),
                                      float(cached)))


@chainer.dataset.converter()
def review_converter(batch, device):
    """``[(ids, label), ...]`` -> (list of id arrays on ``device``, labels (B,) int32)."""
    xs = [device.send(np.asarray(ids, dtype=np.int32)) for ids, _ in batch]
    t = device.send(np.asarray([label for _, label in batch], dtype=np.int32))
    return xs, t
