"""The aclImdb v1 layout: review groups, file names and the train/dev split.

A review lives at ``aclImdb/{train,test}/{pos,neg,unsup}/ID_RATING.txt``. The
dev split follows Miyato et al. and Sato et al.: training files with id >= 10621
(pos) or >= 10625 (neg) form the dev set, giving 21,246 train / 3,754 dev /
25,000 test reviews. Dev reviews never contribute to the vocabulary.
"""

import re

import numpy as np

# (directory under aclImdb/, label): label 1 = positive, 0 = negative, -1 = unlabeled.
GROUPS = {
    "train/pos": 1,
    "train/neg": 0,
    "test/pos": 1,
    "test/neg": 0,
    "train/unsup": -1,
}
LABELED_GROUPS = ("train/pos", "train/neg", "test/pos", "test/neg")
UNLABELED_GROUPS = ("train/unsup",)

DEV_THRESHOLDS = {"train/pos": 10621, "train/neg": 10625}

_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg|unsup)/([^/]+)$")
_FILE_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")


def parse_review_path(path):
    """Classify an archive member path such as ``aclImdb/train/pos/0_9.txt``.

    Returns ``(group, file_id, rating)`` for a review, ``None`` for a path that
    is not a review (README, url lists, bag-of-words files, directories), and
    raises ``ValueError`` with a reason for a path inside a review directory
    that does not fit the layout.
    """
    match = _MEMBER.match(path)
    if match is None:
        return None
    split, polarity, name = match.groups()
    group = split + "/" + polarity
    if group not in GROUPS:
        raise ValueError("unexpected review directory aclImdb/%s" % group)
    return (group,) + parse_review_name(name)


def parse_review_name(name):
    """``'123_8.txt'`` -> ``(123, 8)``; ``ValueError`` for non-text names.

    Files ending in ``.feat`` (bag-of-words) are not expected inside review
    directories; anything that is not ``ID_RATING.txt`` is a layout error.
    """
    match = _FILE_NAME.match(name)
    if match is None:
        raise ValueError("file name %r is not ID_RATING.txt" % name)
    return int(match.group(1)), int(match.group(2))


def split_of(group, file_ids):
    """The split (``train``, ``dev``, ``test`` or ``unlabeled``) of reviews of ``group``, by file id.

    Vectorised: an array of split names shaped like ``file_ids`` (one id gives a 0-d array).
    """
    file_ids = np.asarray(file_ids)
    if group in UNLABELED_GROUPS:
        return np.full(file_ids.shape, "unlabeled")
    if group.startswith("test/"):
        return np.full(file_ids.shape, "test")
    return np.where(file_ids >= DEV_THRESHOLDS[group], "dev", "train")


def counts_for_vocabulary(split):
    """Whether reviews of ``split`` count towards the vocabulary (train + unlabeled)."""
    return split in ("train", "unlabeled")
