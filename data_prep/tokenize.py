"""Tokenisers for IMDB reviews.

``regex`` (default) is the rule that reproduces the paper's vocabulary size and
Table 2 exactly: split the review on the Unicode-aware regular expression
``\\W+`` and drop empty strings, keeping case. HTML line breaks ``<br />``
therefore yield the token ``br`` and ``don't`` yields ``don``, ``t``.

``treebank`` is a documented alternative that follows the paper's prose more
literally ("tokenize contractions, remove punctuation"): ``<br />`` tags are
removed, the text goes through nltk's Penn Treebank tokeniser (which splits
``don't`` into ``do``, ``n't``) sentence by sentence (the Treebank tokeniser
only separates a period at the end of its input; sentences are cut after
``.``, ``!`` or ``?`` followed by white space, since nltk's punkt data cannot be
downloaded here), and tokens without any word character are
dropped. It needs no nltk data files, so it works offline, but it cannot
reproduce the paper's |V| = 87,008.
"""

import re

_WORD_RUN = re.compile(r"\w+")
_BR_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

TOKENIZERS = ("regex", "treebank")


def regex_tokenize(text):
    """Return the maximal runs of word characters of ``text``.

    Equivalent to ``[t for t in re.split(r'\\W+', text) if t]``: the pieces
    between runs of non-word characters are exactly the runs of word
    characters.
    """
    return _WORD_RUN.findall(text)


class TreebankTokenizer:
    """nltk Treebank tokenisation with ``<br />`` removed and punctuation dropped."""

    def __init__(self):
        from nltk.tokenize import TreebankWordTokenizer

        self._tokenizer = TreebankWordTokenizer()

    def __call__(self, text):
        text = _BR_TAG.sub(" ", text)
        tokens = []
        for sentence in _SENTENCE_END.split(text):
            tokens.extend(t for t in self._tokenizer.tokenize(sentence) if _WORD_RUN.search(t))
        return tokens


def get_tokenizer(name):
    """Return the tokeniser called ``name`` (one of :data:`TOKENIZERS`)."""
    if name == "regex":
        return regex_tokenize
    if name == "treebank":
        return TreebankTokenizer()
    raise ValueError("unknown tokenizer %r (choose from %s)" % (name, ", ".join(TOKENIZERS)))
