import random
import re

import pytest

from data_prep.tokenize import get_tokenizer, regex_tokenize


@pytest.mark.parametrize("text, expected", [
    ("I loved it.<br /><br />Great!", ["I", "loved", "it", "br", "br", "Great"]),
    ("Wow!!! 10/10, really...", ["Wow", "10", "10", "really"]),
    ("don't it's O'Neil", ["don", "t", "it", "s", "O", "Neil"]),
    ("The the THE", ["The", "the", "THE"]),
    ("Café naïve Amélie — 東京!", ["Café", "naïve", "Amélie", "東京"]),
    ("snake_case and-dash", ["snake_case", "and", "dash"]),
    ("   ", []),
])
def test_regex_tokenizer_cases(text, expected):
    assert regex_tokenize(text) == expected


def test_regex_tokenizer_equals_the_papers_split_rule():
    rng = random.Random(0)
    alphabet = "ab Z9_'-.,!<>/ \té東"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert regex_tokenize(text) == [t for t in re.split(r"\W+", text) if t]


def test_treebank_tokenizer_splits_contractions_and_drops_punctuation():
    tokenize = get_tokenizer("treebank")
    assert tokenize("I don't like it.<br />It's bad!") == ["I", "do", "n't", "like", "it", "It", "'s", "bad"]
    assert tokenize('"Quoted" -- (really) ...') == ["Quoted", "really"]


def test_unknown_tokenizer():
    with pytest.raises(ValueError, match="unknown tokenizer"):
        get_tokenizer("spacy")
