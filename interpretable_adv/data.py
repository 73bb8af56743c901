"""Loading a prepared IMDB dataset (written by ``iadv prepare``).

A prepared directory holds ``vocab.json``, ``stats.json``, ``stats.md`` and one
``.npz`` per split (``train``, ``dev``, ``test``, ``unlabeled``) with

* ``tokens``  int32, every review's word ids concatenated, ``<eos>`` ending each;
* ``offsets`` int64, review ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``;
* ``labels``  int8, 1 positive, 0 negative, -1 unlabeled;
* ``file_ids`` and ``ratings``, from the aclImdb file names ``ID_RATING.txt``.

Ids: ``<eos>`` = 0, ``<unk>`` = 1, then words by decreasing corpus frequency
(ties by code point order), the order an adaptive softmax needs.
"""

import hashlib
import os

import numpy as np

from interpretable_adv.errors import UsageError
from interpretable_adv.files import open_npz, read_json

EOS = "<eos>"
UNK = "<unk>"
EOS_ID = 0
UNK_ID = 1
SPLIT_NAMES = ("train", "dev", "test", "unlabeled")
LABEL_NAMES = ("negative", "positive")   # by label id


def vocabulary_hash(words):
    """SHA-256 of the words in id order: equal hashes mean identical id mappings."""
    digest = hashlib.sha256()
    for word in words:
        digest.update(word.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


class Vocabulary:
    """Word <-> id mapping of a prepared dataset, with corpus counts."""

    def __init__(self, words, counts=None, doc_freq=None):
        self.words = list(words)
        self.counts = counts
        self.doc_freq = doc_freq
        self.index = {w: i for i, w in enumerate(self.words)}
        self.hash = vocabulary_hash(self.words)

    def __len__(self):
        return len(self.words)

    def id_of(self, word):
        return self.index.get(word, UNK_ID)

    def decode(self, ids):
        return [self.words[i] for i in ids]

    @classmethod
    def load(cls, path):
        data = read_json(path, "vocabulary")
        vocab = cls(data["words"], data.get("counts"), data.get("doc_freq"))
        if "hash" in data and data["hash"] != vocab.hash:
            raise UsageError("%s: stored hash %s does not match its words (%s)" % (path, data["hash"], vocab.hash))
        return vocab


class ReviewSplit:
    """The reviews of one split as a flat token array plus offsets."""

    def __init__(self, tokens, offsets, labels, file_ids=None, ratings=None):
        self.tokens = tokens
        self.offsets = offsets
        self.labels = labels
        self.file_ids = file_ids
        self.ratings = ratings

    def __len__(self):
        return len(self.offsets) - 1

    @property
    def lengths(self):
        return np.diff(self.offsets)

    def review(self, i):
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def __getitem__(self, i):
        """``(token ids, label)`` of review ``i``: the example format of the classifiers."""
        return self.review(i), np.int32(self.labels[i])

    @classmethod
    def load(cls, path):
        with open_npz(path, "split") as z:
            missing = [k for k in ("tokens", "offsets", "labels", "file_ids", "ratings") if k not in z.files]
            if missing:
                raise UsageError("split %s: lacks %s; not written by `iadv prepare`" % (path, ", ".join(missing)))
            return cls(z["tokens"], z["offsets"], z["labels"], z["file_ids"], z["ratings"])

    def save(self, path):
        np.savez(path, tokens=self.tokens, offsets=self.offsets, labels=self.labels,
                 file_ids=self.file_ids, ratings=self.ratings)


class PreparedData:
    """A prepared dataset directory: vocabulary, statistics and lazily loaded splits."""

    def __init__(self, directory):
        if not os.path.isfile(os.path.join(directory, "vocab.json")):
            raise UsageError("--data %s: not a prepared dataset (no vocab.json); run `iadv prepare` first" % directory)
        self.directory = directory
        self.vocab = Vocabulary.load(os.path.join(directory, "vocab.json"))
        self.stats = read_json(os.path.join(directory, "stats.json"), "dataset statistics")
        self._splits = {}

    def split(self, name):
        if name not in SPLIT_NAMES:
            raise KeyError("unknown split %r (choose from %s)" % (name, ", ".join(SPLIT_NAMES)))
        if name not in self._splits:
            self._splits[name] = ReviewSplit.load(os.path.join(self.directory, name + ".npz"))
        return self._splits[name]
