import pytest

from data_prep.layout import parse_review_path, split_of


@pytest.mark.parametrize("group, file_id, split", [
    ("train/pos", 10620, "train"), ("train/pos", 10621, "dev"), ("train/pos", 0, "train"),
    ("train/neg", 10624, "train"), ("train/neg", 10625, "dev"), ("train/neg", 12499, "dev"),
    ("test/pos", 12499, "test"), ("test/neg", 0, "test"), ("train/unsup", 49999, "unlabeled"),
])
def test_split_thresholds(group, file_id, split):
    assert split_of(group, file_id) == split


def test_parse_review_path():
    assert parse_review_path("aclImdb/train/pos/0_9.txt") == ("train/pos", 0, 9)
    assert parse_review_path("./aclImdb/test/neg/12_3.txt") == ("test/neg", 12, 3)
    assert parse_review_path("aclImdb/train/unsup/7_0.txt") == ("train/unsup", 7, 0)
    assert parse_review_path("aclImdb/README") is None
    assert parse_review_path("aclImdb/train/urls_pos.txt") is None
    with pytest.raises(ValueError, match="ID_RATING"):
        parse_review_path("aclImdb/train/pos/review.txt")
    with pytest.raises(ValueError, match="unexpected review directory"):
        parse_review_path("aclImdb/test/unsup/1_0.txt")
