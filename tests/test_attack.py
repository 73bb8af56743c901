"""The common word-substitution attack (Table 4) on hand-built models whose answers brute force finds."""

import itertools

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
import pytest

from interpretable_adv.data import EOS_ID, UNK_ID
from interpretable_adv.nets import LanguageModel, split_by_lengths
from interpretable_adv.reports.word_substitution import (
    AttackSettings,
    attack_review,
    attack_summary,
    budget_of,
    perplexity_of,
    shared_candidates,
)
from interpretable_adv.reports.table4 import robust_at, robust_outcomes


class BagOfEmbeddings(chainer.Chain):
    """logits = (0, w . sum_t e_t): linear in the embeddings, so a substitution's effect is exactly additive."""

    def __init__(self, embeddings, w):
        super().__init__()
        self.w = np.asarray(w, np.float32)
        with self.init_scope():
            self.embed = L.EmbedID(*embeddings.shape, initialW=embeddings)

    def embed_reviews(self, xs):
        return self.embed(self.xp.concatenate(xs))

    def logits_from_embeddings(self, flat, lengths):
        sums = F.stack([F.sum(part, axis=0) for part in split_by_lengths(flat, lengths)])
        score = F.matmul(sums, self.xp.asarray(self.w)[:, None])
        return F.concat([self.xp.zeros_like(score.array), score], axis=1)

    def forward(self, xs):
        return self.logits_from_embeddings(self.embed_reviews(xs), [len(x) for x in xs])


def _score(model, ids):
    return float(model.embed.W.array[ids].sum(axis=0) @ model.w)   # > 0: class 1


def _setup(seed=0, vocab=12, dim=3, k=3):
    rng = np.random.RandomState(seed)
    embeddings = rng.normal(size=(vocab, dim)).astype(np.float32)
    model = BagOfEmbeddings(embeddings, rng.normal(size=dim))
    candidates = {w: rng.choice([c for c in range(2, vocab) if c != w], k, replace=False).astype(np.int32)
                  for w in range(2, vocab)}
    return model, candidates, rng


def _fewest_changes_to_flip(model, ids, label, candidates, limit):
    """Brute force: the fewest substitutions (one per position, from the candidate lists) that flip the model."""
    positions = [t for t in range(len(ids)) if ids[t] not in (EOS_ID, UNK_ID)]
    for n in range(1, limit + 1):
        for chosen in itertools.combinations(positions, n):
            for words in itertools.product(*[candidates[int(ids[t])] for t in chosen]):
                trial = ids.copy()
                trial[list(chosen)] = words
                if (_score(model, trial) > 0) != bool(label):
                    return n
    return None


def _review(rng, length, vocab=12):
    return np.concatenate([rng.randint(2, vocab, size=length), [EOS_ID]]).astype(np.int32)


def test_one_word_budget_finds_the_best_single_substitution_by_brute_force():
    model, candidates, rng = _setup()
    settings = AttackSettings(max_share=0.01, top=1)                 # budget: one word
    checked = 0
    for _ in range(30):
        ids = _review(rng, 6)
        label = int(_score(model, ids) > 0)
        result = attack_review(model, ids, label, candidates, settings)
        sign = 1 if label == 1 else -1                                # the loss rises as the true class's score falls
        best = min(((t, c) for t in range(6) for c in candidates[int(ids[t])]),
                   key=lambda tc: sign * (_score(model, np.where(np.arange(7) == tc[0], tc[1], ids))))
        assert result["changed"] == 1 and result["budget"] == 1
        (t,) = result["positions"]   # the same word at two positions ties: compare the substitution, not the place
        assert (ids[t], result["adversarial"][t]) == (ids[best[0]], best[1])
        assert _score(model, np.asarray(result["adversarial"])) == pytest.approx(
            _score(model, np.where(np.arange(7) == best[0], best[1], ids)), abs=1e-5)
        flips = (_score(model, np.asarray(result["adversarial"])) > 0) != bool(label)
        assert result["status"] == ("succeeded" if flips else "failed")
        checked += 1
    assert checked == 30


def test_greedy_needs_exactly_the_fewest_changes_brute_force_finds_and_respects_the_budget():
    model, candidates, rng = _setup(seed=1)
    statuses = set()
    for _ in range(25):
        ids = _review(rng, 5)
        label = int(_score(model, ids) > 0)
        for share in (0.2, 0.4, 1.0):                                 # budgets of 1, 2 and 5 words
            result = attack_review(model, ids, label, candidates, AttackSettings(max_share=share, top=1))
            budget = budget_of(5, share)
            fewest = _fewest_changes_to_flip(model, ids, label, candidates, budget)
            assert result["changed"] <= budget
            if fewest is None:                                        # cannot be flipped within the budget: robust
                assert result["status"] == "failed"
            else:
                assert result["status"] == "succeeded" and result["changed"] == fewest
            statuses.add(result["status"])
    assert statuses == {"succeeded", "failed"}                        # both cases were exercised


def test_a_misclassified_review_is_skipped_and_protected_tokens_never_change():
    model, candidates, rng = _setup(seed=2)
    ids = _review(rng, 6)
    ids[2] = UNK_ID
    wrong = 1 - int(_score(model, ids) > 0)
    skipped = attack_review(model, ids, wrong, candidates, AttackSettings())
    assert skipped["status"] == "skipped" and skipped["queries"] == 1 and skipped["changed"] == 0
    right = 1 - wrong
    result = attack_review(model, ids, right, candidates, AttackSettings(max_share=1.0, top=2))
    assert result["adversarial"][2] == UNK_ID and result["adversarial"][-1] == EOS_ID
    # clean prediction + one gradient and at most `top` scored candidates per change
    assert result["queries"] <= 1 + result["changed"] * (1 + 2) + 1


def test_budget_is_a_floor_share_of_words_and_at_least_one():
    assert budget_of(9, 0.1) == 1 and budget_of(40, 0.1) == 4 and budget_of(99, 0.05) == 4 and budget_of(100, 0.05) == 5


def test_shared_candidates_are_the_nearest_by_cosine_without_protected_words():
    rng = np.random.RandomState(3)
    embeddings = rng.normal(size=(15, 4)).astype(np.float32)
    table = shared_candidates(embeddings, [3, 7, 3], k=4)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    for word in (3, 7):
        cosine = unit[2:] @ unit[word]                                # ids 0, 1 (<eos>, <unk>) never candidates
        order = [int(i) + 2 for i in np.argsort(-cosine) if int(i) + 2 != word][:4]
        assert table[word].tolist() == order
    assert sorted(table) == [3, 7]


def _lm(vocab, seed=0):
    chainer.global_config.dtype = np.float32
    np.random.seed(seed)
    return LanguageModel(vocab, embed_dim=4, hidden_dim=6, dropout=0.0, softmax="full", init_scale=1.0)


def test_the_lm_filter_holds_and_changes_what_the_attack_may_do():
    model, candidates, rng = _setup(seed=4, vocab=12)
    lm = _lm(12)
    ratio, blocked = 1.05, 0
    for _ in range(30):
        ids = _review(rng, 8)
        label = int(_score(model, ids) > 0)
        free = attack_review(model, ids, label, candidates, AttackSettings(max_share=0.5, top=2), lm)
        filtered = attack_review(model, ids, label, candidates, AttackSettings(max_share=0.5, top=2,
                                                                               max_ppl_ratio=ratio), lm)
        original = perplexity_of(lm, [ids])[0]
        assert filtered["ppl_original"] == pytest.approx(original)
        final = perplexity_of(lm, [np.asarray(filtered["adversarial"], np.int32)])[0]
        assert final <= ratio * original * (1 + 1e-6)                 # the constraint holds for the result
        if free["status"] == "succeeded":
            assert free["ppl_adversarial"] == pytest.approx(perplexity_of(lm, [np.asarray(free["adversarial"])])[0])
            blocked += perplexity_of(lm, [np.asarray(free["adversarial"])])[0] > ratio * original
    assert blocked > 0                                                # without the filter some results break it


def test_perplexity_of_matches_one_review_at_a_time_and_a_direct_softmax():
    lm = _lm(10, seed=5)
    reviews = [np.array([3, 4, 5, EOS_ID], np.int32), np.array([7, 2, EOS_ID], np.int32)]
    together = perplexity_of(lm, reviews)
    for review, value in zip(reviews, together):
        assert perplexity_of(lm, [review])[0] == pytest.approx(value, rel=1e-5)
        with chainer.using_config("train", False):                    # direct: log-softmax of the LM's outputs
            h, _ = lm.hidden_states(np.concatenate([[EOS_ID], review[:-1]])[None].astype(np.int32))
            logp = lm.output.log_prob(h).array
        assert value == pytest.approx(np.exp(-logp[np.arange(len(review)), review].mean()), rel=1e-5)


def test_smaller_budgets_read_off_one_run_equal_separate_runs():
    model, candidates, rng = _setup(seed=6)
    reviews = [_review(rng, 10) for _ in range(30)]
    labels = [int(_score(model, ids) > 0) for ids in reviews]
    labels[0] = 1 - labels[0]                                         # one skipped review
    big = [attack_review(model, ids, y, candidates, AttackSettings(max_share=0.5, top=1)) for ids, y in
           zip(reviews, labels)]
    outcomes = {key: [r[key] for r in big] for key in ("status", "changed", "words")}
    for share in (0.1, 0.2, 0.3):
        small = [attack_review(model, ids, y, candidates, AttackSettings(max_share=share, top=1)) for ids, y in
                 zip(reviews, labels)]
        assert robust_outcomes(outcomes, share) == [r["status"] == "failed" for r in small]
        assert robust_at(outcomes, [share])["%g" % share] == pytest.approx(attack_summary(small)["Accuracy under attack"])
    summary = attack_summary(big)
    assert summary["Number of skipped attacks"] == 1
    assert summary["Original accuracy"] == pytest.approx(100 * 29 / 30)
    assert summary["Accuracy under attack"] == pytest.approx(100 * summary["Number of failed attacks"] / 30)


def test_attack_command_refuses_bad_input_in_one_line(tmp_path, capsys, synthetic_prepared):
    from interpretable_adv.cli import main

    assert main(["attack", "--runs", str(tmp_path)]) == 2
    assert "no training run there" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["attack", "--runs", str(tmp_path), "--max-ppl-ratio", "0.5"])
    assert exit_info.value.code == 2 and "--max-ppl-ratio" in capsys.readouterr().err
    assert main(["attack", "--runs", str(tmp_path), "--max-share", "0"]) == 2
    assert "budget must be above 0" in capsys.readouterr().err
    assert main(["attack", "--runs", str(tmp_path), "--data", synthetic_prepared, "-k", "1000000"]) == 2
    assert "K must be below the vocabulary size" in capsys.readouterr().err
