"""``iadv report`` without a browser: the page's data against the files it reads, leans and scale by hand, bad input.

The page itself, run in headless Chromium, is tested in ``test_report_browser.py``.
"""

import json
import os
import re

import numpy as np
import pytest

from interpretable_adv.data import PreparedData
from interpretable_adv.errors import UsageError
from interpretable_adv.reports.html_report import write_report
from interpretable_adv.reports.review_browser import LEAN_MIN_REVIEWS, colour_scale, word_leanings

HOSTILE = "</script><img src=x onerror=\"document.title='pwned'\">"


def _record(tokens, norms, direction, flipped=False):
    return {"norms": norms, "nearest": list(tokens), "direction": direction,
            "predictions": {"original": 1, "continuous": 1, "nearest": 1, "direction": 0 if flipped else 1},
            "ppl": {"direction": 300.0, "nearest": 100.0, "continuous": 100.5}}


def hand_made_run_set(root):
    """A run set of one seed with two Table 1 reviews (one holding a hostile word), a Table 4 attack, a summary."""
    seed = root / "seed0"
    (seed / "eval").mkdir(parents=True)
    (seed / "attack").mkdir()
    first = ["a", "great", HOSTILE, "<eos>"]
    second = ["bad", "film", "<eos>"]
    reviews = [
        {"test_index": 3, "label": 1, "tokens": first, "ppl_original": 100.0,
         "advt": _record(first, [0.01, 0.02, 0.03, 0.04], ["b", "good", "c", "d"], flipped=True),
         "spgd": _record(first, [0.0, 0.123456, 0.0, 0.0], ["a", "awful", HOSTILE, "<eos>"])},
        {"test_index": 7, "label": 0, "tokens": second, "ppl_original": 50.0,
         "advt": _record(second, [0.05, 0.06, 0.07], ["worst", "movie", "x"]),
         "spgd": _record(second, [0.2, 0.0, 0.0], ["good", "film", "<eos>"])},
    ]
    (seed / "eval" / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reviews))
    (seed / "attack" / "examples.jsonl").write_text(json.dumps(
        {"row": "baseline", "test_index": 3, "label": 1, "changed": 1, "words": 4, "ppl_original": 10.0,
         "ppl_adversarial": 12.0, "diff": "a [[great]] -> [[fine]] x <eos>"}) + "\n")
    (root / "eval").mkdir()
    (root / "eval" / "summary.json").write_text(json.dumps({"table3": [], "comparable_to_paper": False}))
    (root / "eval" / "table3.md").write_text("# Table 3\n\n| model | test |\n|---|---|\n| Baseline <b>x</b> | "
                                             "95.00 +- 1.32 DEGENERATE (seed 0) |\n")
    return reviews


def embedded_data(page):
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_the_page_holds_every_review_as_written_and_nothing_from_outside(tmp_path):
    reviews = hand_made_run_set(tmp_path)
    path = write_report(str(tmp_path), str(tmp_path / "out"))
    assert path == str(tmp_path / "out" / "index.html")
    page = open(path, encoding="utf-8").read()
    data = embedded_data(page)
    (seed,) = data["seeds"]
    assert seed["seed"] == 0 and [r["index"] for r in seed["reviews"]] == [3, 7]
    for written, shown in zip(reviews, seed["reviews"]):
        assert [data["words"][i] for i in shown["tokens"]] == written["tokens"]
        assert shown["label"] == written["label"] and shown["ppl"] == written["ppl_original"]
        for name in ("advt", "spgd"):
            record = shown["rows"][name]
            assert record["norms"] == pytest.approx(written[name]["norms"], rel=5e-4)
            assert [data["words"][i] for i in record["direction"]] == written[name]["direction"]
            assert record["predictions"] == written[name]["predictions"]
    assert seed["reviews"][0]["rows"]["spgd"]["norms"][1] == 0.1235   # four significant digits
    assert [r["name"] for r in data["rows"]] == ["advt", "spgd"]       # the registry's order
    assert seed["attacks"]["3"]["baseline"]["diff"] == "a [[great]] -> [[fine]] x <eos>"
    assert data["leanings"] is None                                    # no dataset here: colour by norm alone
    # Nothing in the data can close the script element or become markup; the page loads nothing from outside.
    assert HOSTILE not in page and "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert re.findall(r'(?:src|href)="(?!data:|#)', page) == []
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert '<span class="flag">DEGENERATE</span>' in page
    assert "NOT comparable to the paper" in page


def test_the_colour_scale_is_the_99th_percentile_of_the_nonzero_norms():
    norms = [0.0] * 50 + [float(i) for i in range(1, 101)]   # 100 nonzero values 1..100
    # numpy's linear interpolation: position 0.99 * 99 = 98.01 between the sorted values 99 and 100
    assert colour_scale(norms) == pytest.approx(99.01)
    assert colour_scale([0.0, 0.0]) == 0.0


def test_word_leanings_by_counting_reviews_one_at_a_time(synthetic_prepared):
    data = PreparedData(synthetic_prepared)
    train = data.split("train")
    words = [w for w in data.vocab.words[2:40]] + ["never-a-word"]
    leans = word_leanings(data, words)
    n_pos, n_neg = int((train.labels == 1).sum()), int((train.labels == 0).sum())
    holding = [set(train.review(r).tolist()) for r in range(len(train))]
    checked = 0
    for word, lean in zip(words, leans):
        if word not in data.vocab.index:
            assert lean is None
            continue
        i = data.vocab.index[word]
        pos = sum(1 for r, ids in enumerate(holding) if i in ids and train.labels[r] == 1)
        neg = sum(1 for r, ids in enumerate(holding) if i in ids and train.labels[r] == 0)
        if pos + neg < LEAN_MIN_REVIEWS:
            assert lean is None
            continue
        rate_pos, rate_neg = (pos + 1) / (n_pos + 2), (neg + 1) / (n_neg + 2)
        assert lean == pytest.approx((rate_pos - rate_neg) / (rate_pos + rate_neg), abs=1e-3)
        checked += 1
    assert checked > 10
    # the synthetic corpus plants sentiment words: "excellent" leans positive, "worst" negative
    assert word_leanings(data, ["excellent"])[0] > 0.3 and word_leanings(data, ["worst"])[0] < -0.3


@pytest.mark.parametrize("damage, fragment", [
    (lambda line: "{ not json\n", "examples.jsonl:1: not valid JSON"),
    (lambda line: json.dumps(dict(json.loads(line), advt=dict(json.loads(line)["advt"], norms=[0.1]))) + "\n",
     "advt: norms must be 4 non-negative numbers"),
    (lambda line: json.dumps(dict(json.loads(line), tokens="a b")) + "\n", "no tokens"),
    (lambda line: json.dumps({k: v for k, v in json.loads(line).items() if k not in ("advt", "spgd")}) + "\n",
     "no perturbed run"),
])
def test_a_damaged_examples_file_is_refused_naming_its_line(tmp_path, damage, fragment):
    hand_made_run_set(tmp_path)
    path = tmp_path / "seed0" / "eval" / "examples.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(damage(lines[0]) + "".join(lines[1:]))
    with pytest.raises(UsageError) as error:
        write_report(str(tmp_path), str(tmp_path / "out"))
    assert fragment in str(error.value) and str(path) in str(error.value)
    assert not (tmp_path / "out" / "index.html").exists()


def test_without_a_summary_the_error_names_the_command_to_run(tmp_path):
    hand_made_run_set(tmp_path)
    os.remove(str(tmp_path / "eval" / "summary.json"))
    with pytest.raises(UsageError, match="run `iadv summarize --runs"):
        write_report(str(tmp_path))


def test_leanings_come_from_the_runs_dataset_when_given(tmp_path, synthetic_prepared):
    hand_made_run_set(tmp_path)
    data = embedded_data(open(write_report(str(tmp_path), str(tmp_path / "out"), synthetic_prepared)).read())
    leans = dict(zip(data["words"], data["leanings"]))
    assert leans["great"] is not None and leans[HOSTILE] is None and np.isfinite(leans["great"])
