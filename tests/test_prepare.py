"""Preparation on hand-made and synthetic corpora: vocabulary rule, splits, determinism."""

import json
import os

import numpy as np
import pytest

from data_prep.pipeline import prepare_imdb
from data_prep.synthetic_corpus import pack_archives, write_synthetic_corpus
from interpretable_adv.data import EOS_ID, UNK_ID, PreparedData, vocabulary_hash
from tests.helpers import write_tree


def _prepare(sources, out, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("min_vocab", 1)   # the hand-made corpora have only a handful of words
    return prepare_imdb(sources if isinstance(sources, list) else [sources], str(out),
                        progress=False, log=lambda m: None, **kw)


@pytest.fixture
def hand_corpus(tmp_path):
    # Document frequencies over train (ids < 10621/10625) + unlabeled:
    #   alpha: 4 docs, 6 occurrences (dev ones not counted)  beta: 3 docs   gamma: 2 docs (train + unsup)
    #   hapax: 1 doc but 3 occurrences (dropped: the rule is document frequency)
    #   devword: only in dev (3 docs, dropped)  testword: only in test (dropped)
    reviews = {
        "train/pos": {1: "alpha alpha beta hapax hapax hapax", 2: "alpha gamma beta",
                      10621: "devword alpha", 12000: "devword"},
        "train/neg": {5: "alpha alpha beta", 10625: "devword"},
        "test/pos": {3: "testword alpha"},
        "test/neg": {4: "testword testword zeta"},
        "train/unsup": {0: "alpha gamma", 9: "Alpha"},
    }
    return write_tree(tmp_path / "raw", reviews)


def test_vocabulary_rule_on_hand_corpus(hand_corpus, tmp_path):
    stats, reused = _prepare(hand_corpus, tmp_path / "out")
    assert not reused
    data = PreparedData(str(tmp_path / "out"))
    # <eos>, <unk>, then by term frequency: alpha (6, dev excluded), beta (3), gamma (2).
    # "Alpha" (capitalised, 1 doc) is a different word and a hapax.
    assert data.vocab.words == ["<eos>", "<unk>", "alpha", "beta", "gamma"]
    assert data.vocab.counts[2:] == [6, 3, 2]
    assert data.vocab.doc_freq[2:] == [4, 3, 2]
    assert stats["vocab_size"] == 5
    assert stats["vocab_hash"] == vocabulary_hash(data.vocab.words)

    train, dev, test = data.split("train"), data.split("dev"), data.split("test")
    assert len(train) == 3 and len(dev) == 3 and len(test) == 2
    # pos before neg, each by file id; OOV dropped; <eos> appended
    assert train.file_ids.tolist() == [1, 2, 5] and train.labels.tolist() == [1, 1, 0]
    assert [data.vocab.decode(train.review(i)) for i in range(3)] == [
        ["alpha", "alpha", "beta", "<eos>"], ["alpha", "gamma", "beta", "<eos>"], ["alpha", "alpha", "beta", "<eos>"]]
    assert dev.file_ids.tolist() == [10621, 12000, 10625]
    assert data.vocab.decode(dev.review(1)) == ["<eos>"]          # all-OOV review keeps its <eos>
    assert data.vocab.decode(test.review(1)) == ["<eos>"]
    assert data.split("unlabeled").labels.tolist() == [-1, -1]
    assert stats["table2"]["train"] == {"examples": 3, "min": 4, "max": 4, "avg": 4.0, "tokens": 12}


def test_oov_can_map_to_unk(hand_corpus, tmp_path):
    _prepare(hand_corpus, tmp_path / "out", oov="unk")
    data = PreparedData(str(tmp_path / "out"))
    review = data.split("test").review(1)
    assert review.tolist() == [UNK_ID, UNK_ID, UNK_ID, EOS_ID]
    assert data.vocab.counts[1] == 4  # hapax x3 + Alpha x1 in train/unlabeled


def test_min_df_option(hand_corpus, tmp_path):
    _prepare(hand_corpus, tmp_path / "out", min_df=3)
    assert PreparedData(str(tmp_path / "out")).vocab.words == ["<eos>", "<unk>", "alpha", "beta"]


def test_upstream_vocab_order_is_first_appearance_in_upstream_reading_order(tmp_path):
    # Reading order: train/pos, train/neg, train/unsup, each by file NAME as a string
    # ("10_8.txt" < "2_8.txt" < "9_8.txt"); dev reviews (ids >= 10621/10625) are read too.
    reviews = {
        "train/pos": {2: "bb aa", 10: "cc bb", 9: "dd", 10700: "ee dd"},
        "train/neg": {1: "ff aa ee", 3: "gg"},
        "test/pos": {0: "zz"}, "test/neg": {0: "zz"},
        "train/unsup": {5: "hh ff cc gg", 7: "hh dd"},
    }
    raw = write_tree(tmp_path / "raw", reviews)
    _prepare(raw, tmp_path / "up", vocab_order="upstream", min_df=1)
    up = PreparedData(str(tmp_path / "up")).vocab
    # by hand: "10700_8" < "10_8" ("7" < "_"): "ee dd", "cc bb"; then 2_8 "bb aa", 9_8 "dd", 1_2 "ff aa ee",
    # 3_2 "gg", unsup "hh ..."
    assert up.words == ["<eos>", "<unk>", "ee", "dd", "cc", "bb", "aa", "ff", "gg", "hh"]
    assert up.words[EOS_ID] == "<eos>" and up.words[UNK_ID] == "<unk>"
    _prepare(raw, tmp_path / "freq", min_df=1)
    freq = PreparedData(str(tmp_path / "freq"))
    assert sorted(freq.vocab.words) == sorted(up.words) and freq.vocab.words != up.words
    # the same reviews, only renumbered
    up_data = PreparedData(str(tmp_path / "up"))
    for split in ("train", "dev", "unlabeled"):
        a, b = up_data.split(split), freq.split(split)
        assert [up.decode(a.review(i)) for i in range(len(a))] == \
            [freq.vocab.decode(b.review(i)) for i in range(len(b))]
    assert "first appearance" in (tmp_path / "up" / "stats.md").read_text()


def test_frequency_ties_break_by_word(tmp_path):
    reviews = {"train/pos": {1: "b a"}, "train/neg": {1: "a b"}, "test/pos": {1: "a"},
               "test/neg": {1: "b"}, "train/unsup": {1: "c c c c"}}
    _prepare(write_tree(tmp_path / "raw", reviews), tmp_path / "out", min_df=1)
    assert PreparedData(str(tmp_path / "out")).vocab.words == ["<eos>", "<unk>", "c", "a", "b"]


def _arrays(directory):
    data = PreparedData(directory)
    return data.stats["vocab_hash"], {s: data.split(s).tokens for s in ("train", "dev", "test", "unlabeled")}


def test_same_input_same_hash_and_arrays_serial_or_parallel(synthetic_raw, tmp_path):
    _prepare(synthetic_raw, tmp_path / "a", workers=1)
    _prepare(synthetic_raw, tmp_path / "b", workers=2)
    hash_a, arrays_a = _arrays(str(tmp_path / "a"))
    hash_b, arrays_b = _arrays(str(tmp_path / "b"))
    assert hash_a == hash_b
    for split in arrays_a:
        np.testing.assert_array_equal(arrays_a[split], arrays_b[split])


@pytest.mark.parametrize("layout", ["aclImdb-dir", "parent-dir", "split-archives", "archive-dir", "single-tarball"])
def test_every_source_layout_gives_the_same_dataset(synthetic_raw, synthetic_prepared, tmp_path, layout):
    acl = os.path.join(synthetic_raw, "aclImdb")
    if layout == "aclImdb-dir":
        sources = [acl]
    elif layout == "parent-dir":
        sources = [synthetic_raw]
    elif layout == "split-archives":
        sources = pack_archives(acl, str(tmp_path / "arch"), "split")
    elif layout == "archive-dir":
        pack_archives(acl, str(tmp_path / "arch"), "split")
        sources = [str(tmp_path / "arch")]
    else:
        sources = pack_archives(acl, str(tmp_path / "arch"), "single")
    _prepare(sources, tmp_path / "out", workers=2)
    hash_new, arrays_new = _arrays(str(tmp_path / "out"))
    hash_ref, arrays_ref = _arrays(synthetic_prepared)
    assert hash_new == hash_ref
    for split in arrays_ref:
        np.testing.assert_array_equal(arrays_new[split], arrays_ref[split])


def test_rerun_reuses_and_force_rebuilds(synthetic_raw, tmp_path):
    out = tmp_path / "out"
    _prepare(synthetic_raw, out)
    mtime = os.stat(out / "train.npz").st_mtime_ns
    stats, reused = _prepare(synthetic_raw, out)
    assert reused and os.stat(out / "train.npz").st_mtime_ns == mtime
    stats, reused = _prepare(synthetic_raw, out, force=True)
    assert not reused and os.stat(out / "train.npz").st_mtime_ns != mtime
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no staging or old directories left behind


def test_synthetic_labels_follow_sentiment_words(synthetic_prepared):
    data = PreparedData(synthetic_prepared)
    train = data.split("train")
    great, awful = data.vocab.index["great"], data.vocab.index["awful"]
    positives = [set(train.review(i).tolist()) for i in range(len(train)) if train.labels[i] == 1]
    assert sum(great in r for r in positives) > sum(awful in r for r in positives)
    assert len(data.split("dev")) > 0  # the file-id rule puts some synthetic reviews in dev


def test_stats_files_are_written(synthetic_prepared):
    with open(os.path.join(synthetic_prepared, "stats.json")) as f:
        stats = json.load(f)
    assert set(stats["table2"]) == {"train", "dev", "test", "unlabeled"}
    md = open(os.path.join(synthetic_prepared, "stats.md")).read()
    assert "Num. examples" in md and "|V|" in md


def test_synthetic_corpus_is_deterministic(tmp_path):
    a = write_synthetic_corpus(str(tmp_path / "a"), 5, 5, 5, seed=7)
    b = write_synthetic_corpus(str(tmp_path / "b"), 5, 5, 5, seed=7)
    for group in ("train/pos", "test/neg", "train/unsup"):
        names = sorted(os.listdir(os.path.join(a, group)))
        assert names == sorted(os.listdir(os.path.join(b, group)))
        for n in names:
            assert open(os.path.join(a, group, n)).read() == open(os.path.join(b, group, n)).read()
