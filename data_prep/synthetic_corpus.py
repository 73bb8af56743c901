"""Synthetic aclImdb-like corpus whose labels depend on a few sentiment words.

Writes ``aclImdb/{train,test}/{pos,neg}/ID_RATING.txt`` and
``aclImdb/train/unsup/ID_0.txt`` in the real layout, so that every stage of the
pipeline runs offline and in seconds. Each labeled review is filler drawn from
a Zipf-like distribution over made-up words, with two to four words from its
class's sentiment list (and, with probability ``noise``, one from the other
class). File ids are spread over 0..12499 so that the real dev-split rule
(id >= 10621 pos / 10625 neg) applies unchanged. Reviews carry the quirks of
the real data: ``<br /><br />`` breaks, punctuation, apostrophes, capitals.
"""

import os
import tarfile

import numpy as np

POSITIVE_WORDS = ("great", "excellent", "wonderful", "superb", "loved", "brilliant")
NEGATIVE_WORDS = ("awful", "boring", "terrible", "worst", "waste", "dull")
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "po", "si", "de", "fu", "ga", "ho", "ji", "be", "zo", "wa")
LABELED_IDS = 12500     # file ids per labeled class in aclImdb v1
UNLABELED_IDS = 50000
_CONNECTIVES = ("the", "a", "and", "of", "to", "is", "it", "this", "film", "movie", "was", "I")


def _filler_vocabulary(size, rng):
    words = set()
    while len(words) < size:
        n = int(rng.integers(2, 4))
        words.add("".join(rng.choice(_SYLLABLES, size=n)))
    return list(_CONNECTIVES) + sorted(words)


def _review(rng, filler, probs, label, noise):
    length = int(rng.integers(8, 30))
    words = list(rng.choice(filler, size=length, p=probs))
    if label >= 0:
        own, other = (POSITIVE_WORDS, NEGATIVE_WORDS) if label == 1 else (NEGATIVE_WORDS, POSITIVE_WORDS)
        for _ in range(int(rng.integers(2, 5))):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(own)))
        if rng.random() < noise:
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(other)))
    sentences, start = [], 0
    while start < len(words):
        stop = start + int(rng.integers(5, 14))
        sentence = " ".join(words[start:stop])
        sentences.append(sentence[:1].upper() + sentence[1:] + str(rng.choice([".", "!", "...", "?"])))
        start = stop
    text = " ".join(sentences)
    if rng.random() < 0.3:
        text = text.replace(". ", ".<br /><br />", 1)
    if rng.random() < 0.3:
        text += " I don't think it's \"perfect\", though."
    return text


def write_synthetic_corpus(root, n_train=200, n_test=200, n_unsup=400, filler_size=300, noise=0.1, seed=0):
    """Write the corpus under ``root/aclImdb`` and return that directory.

    ``n_train`` and ``n_test`` are per class; about 15% of the training reviews
    land in dev through the file-id rule.
    """
    if n_train < 1 or n_test < 1 or n_unsup < 1:
        raise ValueError("every group needs at least one review")
    rng = np.random.default_rng(seed)
    filler = _filler_vocabulary(filler_size, rng)
    ranks = np.arange(1, len(filler) + 1)
    probs = 1.0 / ranks
    probs /= probs.sum()
    base = os.path.join(root, "aclImdb")
    plan = [("train/pos", n_train, 1, LABELED_IDS), ("train/neg", n_train, 0, LABELED_IDS),
            ("test/pos", n_test, 1, LABELED_IDS), ("test/neg", n_test, 0, LABELED_IDS),
            ("train/unsup", n_unsup, -1, UNLABELED_IDS)]
    for group, count, label, id_range in plan:
        directory = os.path.join(base, *group.split("/"))
        os.makedirs(directory, exist_ok=True)
        ids = np.sort(rng.choice(id_range, size=count, replace=False))
        for file_id in ids:
            rating = 0 if label < 0 else int(rng.integers(7, 11) if label == 1 else rng.integers(1, 5))
            text = _review(rng, filler, probs, label, noise)
            with open(os.path.join(directory, "%d_%d.txt" % (file_id, rating)), "w", encoding="utf-8") as f:
                f.write(text)
    with open(os.path.join(base, "README"), "w", encoding="utf-8") as f:
        f.write("Synthetic aclImdb-like corpus written by interpretable_adv (labels follow sentiment words).\n")
    return base


def pack_archives(aclimdb_dir, dest_dir, layout="split"):
    """Pack an ``aclImdb`` tree as archives: ``split`` (train/test/unsup/meta ``.tar.xz``,
    like ``../shared/data/imdb``) or ``single`` (one ``aclImdb_v1.tar.gz``). Returns the paths."""
    parent = os.path.dirname(os.path.abspath(aclimdb_dir))
    os.makedirs(dest_dir, exist_ok=True)
    if layout == "single":
        path = os.path.join(dest_dir, "aclImdb_v1.tar.gz")
        with tarfile.open(path, "w:gz") as tar:
            tar.add(aclimdb_dir, arcname="aclImdb")
        return [path]
    members = {"train": ["train/pos", "train/neg"], "test": ["test/pos", "test/neg"],
               "unsup": ["train/unsup"], "meta": ["README"]}
    paths = []
    for name, parts in members.items():
        path = os.path.join(dest_dir, "aclImdb_%s.tar.xz" % name)
        with tarfile.open(path, "w:xz") as tar:
            for part in parts:
                tar.add(os.path.join(parent, "aclImdb", part), arcname="aclImdb/" + part)
        paths.append(path)
    return paths
