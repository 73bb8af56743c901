"""The data of the HTML report's example browser: every Table 1 review of every seed, compact and checked.

``iadv evaluate`` writes, per seed, ``RUNS/seedN/eval/examples.jsonl``: one
line per review of Table 1's sample with its tokens, its label, the LM's
perplexity of the original, and per perturbed run row (AdvT, iAdvT, SPGD, the
controls, ...) the per-token perturbation norms ``||d_t||``, the ``direction``
and ``nearest`` discretisations, the predictions and the perplexities of the
three variants (:mod:`~interpretable_adv.reports.table1`). ``iadv attack``
writes the successful word-substitution attacks of Table 4 beside it
(``RUNS/seedN/attack/examples.jsonl``). :func:`browser_data` reads both for
every seed into one structure for the page: words as indices into one word
list, norms to four significant digits, and one colour scale (the 99th percentile
of every nonzero norm, so that colours compare across methods, reviews and
seeds, as in Sato et al.'s heatmaps; each row's own scale beside it). Where
the prepared dataset is here, :func:`word_leanings` adds each word's sentiment lean in the training reviews,
by which the page can colour a perturbation by the word it moves towards.
"""

import math
import os

import numpy as np

from interpretable_adv import methods
from interpretable_adv.data import LABEL_NAMES
from interpretable_adv.errors import UsageError
from interpretable_adv.files import read_json_lines
from interpretable_adv.reports.table1 import VARIANTS

# The colour scale: this percentile of every nonzero ||d_t|| is drawn at full colour.
SCALE_PERCENTILE = 99
# A word seen in fewer training reviews than this has no lean on the page (too few to tell).
LEAN_MIN_REVIEWS = 5


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _words(value, length):
    return isinstance(value, list) and len(value) == length and all(isinstance(w, str) for w in value)


def review_rows(entry):
    """The run rows an ``examples.jsonl`` entry holds (its keys that are perturbed rows, in the registry's order,
    then any other key holding a record with norms)."""
    known = [row.name for row in methods.perturbed_rows()]
    present = [name for name in known if name in entry]
    return present + sorted(k for k, v in entry.items() if k not in known and isinstance(v, dict) and "norms" in v)


def check_example(entry, where):
    """The run rows of one ``iadv evaluate`` examples.jsonl entry (:func:`review_rows`), every field the page reads
    checked (UsageError naming ``where``)."""
    tokens = entry.get("tokens")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise UsageError("%s: no tokens (a list of words); not an `iadv evaluate` examples.jsonl" % where)
    if not isinstance(entry.get("test_index"), int) or not isinstance(entry.get("label"), int) \
            or not _number(entry.get("ppl_original")):
        raise UsageError("%s: test_index, label and ppl_original must be numbers" % where)
    rows = review_rows(entry)
    if not rows:
        raise UsageError("%s: no perturbed run (%s) in this review" % (where, ", ".join(
            row.name for row in methods.perturbed_rows())))
    for name in rows:
        record = entry[name]
        if not isinstance(record, dict) or not isinstance(record.get("norms"), list) \
                or len(record["norms"]) != len(tokens) or not all(_number(n) and n >= 0 for n in record["norms"]):
            raise UsageError("%s: %s: norms must be %d non-negative numbers, one per token"
                             % (where, name, len(tokens)))
        for variant in ("direction", "nearest"):
            if not _words(record.get(variant), len(tokens)):
                raise UsageError("%s: %s: %s must be %d words, one per token" % (where, name, variant, len(tokens)))
        predictions, ppl = record.get("predictions"), record.get("ppl")
        if not isinstance(predictions, dict) or not all(isinstance(predictions.get(k), int)
                                                        for k in ("original",) + VARIANTS):
            raise UsageError("%s: %s: predictions must give original, %s as class ids"
                             % (where, name, ", ".join(VARIANTS)))
        if not isinstance(ppl, dict) or not all(_number(ppl.get(v)) for v in VARIANTS):
            raise UsageError("%s: %s: ppl must give %s as numbers" % (where, name, ", ".join(VARIANTS)))
    return rows


class WordTable:
    """Words of the page, each once; ``id(word)`` is its index in ``words``."""

    def __init__(self):
        self.words, self._index = [], {}

    def id(self, word):
        if word not in self._index:
            self._index[word] = len(self.words)
            self.words.append(word)
        return self._index[word]

    def ids(self, words):
        return [self.id(w) for w in words]


def _short(value):
    """``value`` to four significant digits (what the page shows; keeps the page small)."""
    return float("%.4g" % value)


def seed_reviews(seed_dir, table):
    """The Table 1 reviews of one seed, compact (words as ``table`` ids), or None without ``eval/examples.jsonl``."""
    path = os.path.join(seed_dir, "eval", "examples.jsonl")
    if not os.path.isfile(path):
        return None
    reviews = []
    for number, entry in enumerate(read_json_lines(path, "Table 1 examples"), 1):
        rows = {}
        for name in check_example(entry, "%s:%d" % (path, number)):
            record = entry[name]
            rows[name] = {"norms": [_short(n) for n in record["norms"]],
                          "direction": table.ids(record["direction"]), "nearest": table.ids(record["nearest"]),
                          "predictions": {k: record["predictions"][k] for k in ("original",) + VARIANTS},
                          "ppl": {v: _short(record["ppl"][v]) for v in VARIANTS}}
        reviews.append({"index": entry["test_index"], "label": entry["label"], "tokens": table.ids(entry["tokens"]),
                        "ppl": _short(entry["ppl_original"]), "rows": rows})
    return reviews


def seed_attacks(seed_dir):
    """Table 4's successful attacks of one seed: ``{test index: {row: {diff, changed, words, ppl}}}`` (empty
    without ``attack/examples.jsonl``)."""
    path = os.path.join(seed_dir, "attack", "examples.jsonl")
    if not os.path.isfile(path):
        return {}
    out = {}
    for number, entry in enumerate(read_json_lines(path, "Table 4 examples"), 1):
        if not isinstance(entry.get("row"), str) or not isinstance(entry.get("test_index"), int) \
                or not isinstance(entry.get("diff"), str) or not isinstance(entry.get("changed"), int):
            raise UsageError("%s:%d: row, test_index, changed and diff are required; not an `iadv attack` "
                             "examples.jsonl" % (path, number))
        ppl = [entry.get("ppl_original"), entry.get("ppl_adversarial")]
        out.setdefault(str(entry["test_index"]), {})[entry["row"]] = {
            "diff": entry["diff"], "changed": entry["changed"], "words": entry.get("words"),
            "ppl": [_short(p) if _number(p) else None for p in ppl]}
    return out


def word_leanings(data, words):
    """Each of ``words``'s sentiment lean in ``data``'s training reviews, in [-1, 1] (None where the word is not
    in the vocabulary or is in fewer than :data:`LEAN_MIN_REVIEWS` training reviews).

    With ``r_c(w)`` the share of class ``c``'s training reviews holding ``w``
    (add-one smoothed), the lean is ``(r_pos - r_neg) / (r_pos + r_neg)``:
    +1 for a word only positive reviews use, -1 for one only negative reviews
    use, 0 for a word both classes use alike (class sizes cancel out).
    """
    train = data.split("train")
    review_of_token = np.repeat(np.arange(len(train)), train.lengths)
    pairs = np.unique(review_of_token.astype(np.int64) * len(data.vocab) + train.tokens)   # (review, word) once
    reviews, word_ids = pairs // len(data.vocab), pairs % len(data.vocab)
    positive = train.labels[reviews] == 1
    count_pos = np.bincount(word_ids[positive], minlength=len(data.vocab))
    count_neg = np.bincount(word_ids[~positive], minlength=len(data.vocab))
    n_pos, n_neg = int((train.labels == 1).sum()), int((train.labels == 0).sum())
    rate_pos = (count_pos + 1.0) / (n_pos + 2.0)
    rate_neg = (count_neg + 1.0) / (n_neg + 2.0)
    lean = (rate_pos - rate_neg) / (rate_pos + rate_neg)
    out = []
    for word in words:
        i = data.vocab.index.get(word)
        out.append(None if i is None or count_pos[i] + count_neg[i] < LEAN_MIN_REVIEWS else round(float(lean[i]), 3))
    return out


def browser_data(seeds, data=None):
    """Everything the example browser shows, for ``seeds`` ``{seed: path}``; None where no seed has Table 1.

    Returns ``{"words", "labels", "rows": [{name, title}], "attack_rows", "scale", "row_scales", "leanings",
    "seeds": [{seed, reviews, attacks}]}`` (``leanings`` None without ``data``, a :class:`~interpretable_adv.data.PreparedData` of the
    runs' vocabulary).
    """
    table = WordTable()
    per_seed = []
    for seed, path in seeds.items():
        reviews = seed_reviews(path, table)
        if reviews is not None:
            per_seed.append({"seed": seed, "reviews": reviews, "attacks": seed_attacks(path)})
    if not per_seed:
        return None
    present = {name for s in per_seed for review in s["reviews"] for name in review["rows"]}
    attacked = {name for s in per_seed for rows in s["attacks"].values() for name in rows}
    order = [row.name for row in methods.rows()]
    rows = [name for name in order if name in present] + sorted(present - set(order))
    norms = {name: [n for s in per_seed for review in s["reviews"] if name in review["rows"]
                    for n in review["rows"][name]["norms"]] for name in rows}
    return {"words": table.words, "labels": list(LABEL_NAMES),
            "rows": [{"name": name, "title": row_title(name)} for name in rows],
            "attack_rows": [{"name": name, "title": row_title(name)}
                            for name in [n for n in order if n in attacked] + sorted(attacked - set(order))],
            "scale": colour_scale([n for values in norms.values() for n in values]),
            "row_scales": {name: colour_scale(values) for name, values in norms.items()},
            "leanings": None if data is None else word_leanings(data, table.words),
            "seeds": per_seed}


def colour_scale(norms):
    """The norm drawn at full colour: the :data:`SCALE_PERCENTILE` th percentile of the nonzero ``norms`` (larger
    ones saturate; the largest alone would leave most words blank next to SPGD's few large steps); 0 if none."""
    nonzero = np.asarray([n for n in norms if n > 0])
    return _short(float(np.percentile(nonzero, SCALE_PERCENTILE))) if len(nonzero) else 0.0


def row_title(name):
    """How the page names a run row: a perturbed row by its method (Table 1's name), another by its Table 3 title,
    a row the registry does not know by its directory name."""
    try:
        row = methods.row(name)
    except ValueError:
        return name
    return methods.short_title(name) if methods.get(row.method).adversarial else row.title
