"""The real IMDB copy reproduces the paper's |V| and Table 2 exactly (skipped without it)."""

import pytest

from data_prep.stats import PAPER_TABLE2, PAPER_VOCAB_SIZE, matches_paper
from interpretable_adv.data import PreparedData

pytestmark = [pytest.mark.imdb, pytest.mark.slow]


def test_real_imdb_split_sizes_vocabulary_and_table2(prepared_real_imdb):
    data = PreparedData(prepared_real_imdb)
    sizes = {name: len(data.split(name)) for name in ("train", "dev", "test", "unlabeled")}
    assert sizes == {"train": 21246, "dev": 3754, "test": 25000, "unlabeled": 50000}
    assert len(data.vocab) == PAPER_VOCAB_SIZE == 87008
    table = data.stats["table2"]
    for split in ("train", "dev", "test"):
        for key in ("examples", "min", "max", "avg"):
            assert table[split][key] == PAPER_TABLE2[split][key], (split, key)
    assert matches_paper(table, len(data.vocab))
    train = data.split("train")
    assert (train.labels == 1).sum() == 10621 and (train.labels == 0).sum() == 10625
    assert data.vocab.words[:2] == ["<eos>", "<unk>"]
    counts = data.vocab.counts[2:]
    assert all(a >= b for a, b in zip(counts, counts[1:])), "ids must be sorted by frequency"
