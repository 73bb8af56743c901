"""One attack for every model (Table 4): gradient-guided greedy word substitution with shared candidate words.

Table 1 measures each method's own perturbation on its own model; this attack
is the same for every model, so robust accuracies compare. White-box, in the
style of HotFlip (Ebrahimi et al., 2018) and TextAttack's greedy swaps:

* **candidates, shared**: each word ``w`` may become one of its ``K`` nearest
  neighbours by cosine in the *pretrained LM's* embedding space (never
  ``<eos>`` or ``<unk>``). Every model is attacked with the same candidate
  lists, so none is favoured by its own embedding geometry.
* **first-order ranking in the attacked model's space**: with ``g_t`` the
  gradient of the true label's cross-entropy at the model's embedding of
  position ``t`` (dropout off), substituting ``c`` for ``w_t`` is scored
  ``g_t . (e_c - e_{w_t})`` (the linearised rise of the loss).
* **greedy with verification**: each step takes the ``top`` best-scored
  admissible substitutions at positions not yet changed, runs the model on
  each candidate review (``top`` queries) and keeps the one with the highest
  true loss; the attack stops at the first review the model misclassifies
  (success), when the budget ``floor(max_share * words)`` (at least one
  word) is spent, or when no admissible substitution is left (failure).
* **LM filter** (optional, ``max_ppl_ratio``): a candidate is admissible only
  if the LM perplexity of the whole candidate review is at most
  ``max_ppl_ratio`` times that of the original review (cumulative over the
  substitutions, not per step).

A review the model already misclassifies is *skipped* (TextAttack's term):
it counts against clean and robust accuracy and is not attacked. ``queries``
counts every model evaluation of one review: the clean prediction, each
gradient (one forward and backward pass) and each candidate scored.
"""

import dataclasses

import chainer
import chainer.functions as F
import numpy as np

from interpretable_adv.data import EOS_ID, UNK_ID
from interpretable_adv.lstm import lstm_sequences
from interpretable_adv.reports.table1 import review_gradient
from interpretable_adv.topk import normalized_rows, top_k_cosine

PROTECTED_IDS = (EOS_ID, UNK_ID)   # never substituted, never substituted in


@dataclasses.dataclass(frozen=True)
class AttackSettings:
    """The attack's knobs (Table 4's caption states them)."""

    n_candidates: int = 10        # K: nearest neighbours in the LM's embedding space per word
    max_share: float = 0.1        # budget: at most this share of a review's words changed (floor, at least one)
    top: int = 4                  # substitutions scored by the model per step (the best first-order ones)
    max_ppl_ratio: float = None   # LM filter: candidate review perplexity <= this x the original's; None: off

    def __post_init__(self):
        if self.n_candidates < 1:
            raise ValueError("n_candidates must be >= 1, got %r" % self.n_candidates)
        if not 0 < self.max_share <= 1:
            raise ValueError("max_share must be in (0, 1], got %r" % self.max_share)
        if self.top < 1:
            raise ValueError("top must be >= 1, got %r" % self.top)
        if self.max_ppl_ratio is not None and self.max_ppl_ratio < 1:
            raise ValueError("max_ppl_ratio must be >= 1 (1: no rise allowed), got %r" % self.max_ppl_ratio)


def shared_candidates(lm_embeddings, words, k, protected=PROTECTED_IDS):
    """``{word: (k,) candidate ids}``: each word's ``k`` nearest neighbours by cosine in ``lm_embeddings`` (V, D),
    the protected ids never among them."""
    xp = chainer.backend.get_array_module(lm_embeddings)
    unit = normalized_rows(lm_embeddings).copy()
    unit[list(protected)] = 0   # cosine 0 with everything: below any real neighbour, and excluded below
    words = np.unique(np.asarray(words, dtype=np.int64))
    table = chainer.backends.cuda.to_cpu(top_k_cosine(unit, xp.asarray(words), k + len(protected)))
    result = {}
    for word, row in zip(words.tolist(), table):
        row = [c for c in row.tolist() if c not in protected][:k]
        result[word] = np.asarray(row, dtype=np.int32)
    return result


def batch_review_nll(lm, reviews):
    """Total NLL of each review (list of id arrays) under the LM, state reset, ``<eos>`` as the start symbol."""
    xp = lm.xp
    starts = xp.asarray([EOS_ID], dtype=np.int32)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        inputs = [lm.embed(xp.concatenate([starts, xp.asarray(ids[:-1], dtype=np.int32)])) for ids in reviews]
        _, _, ys = lstm_sequences(lm.rnn, None, None, inputs)
        nll = lm.output.nll(F.concat(ys, axis=0), xp.concatenate([xp.asarray(r, dtype=np.int32) for r in reviews]))
    nll = chainer.backends.cuda.to_cpu(nll.array)
    bounds = np.cumsum([0] + [len(r) for r in reviews])
    return np.array([nll[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])])


def perplexity_of(lm, reviews):
    """Per-word perplexity of each review (list of id arrays) under the LM."""
    return np.exp(batch_review_nll(lm, reviews) / np.array([len(r) for r in reviews]))


def _losses(model, reviews, label):
    """True-label cross-entropy and predicted class of each review (dropout off, no graph)."""
    xp = model.xp
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        logits = model([xp.asarray(r, dtype=np.int32) for r in reviews])
        labels = xp.full(len(reviews), label, dtype=np.int32)
        loss = F.softmax_cross_entropy(logits, labels, reduce="no").array
    return chainer.backends.cuda.to_cpu(loss), chainer.backends.cuda.to_cpu(logits.array.argmax(axis=1))


def budget_of(n_words, max_share):
    """How many words an attack may change in a review of ``n_words`` words (``<eos>`` not counted)."""
    return max(1, int(np.floor(max_share * n_words + 1e-9)))


def attack_review(model, ids, label, candidates, settings, lm=None):
    """Attack one review; returns a dict with ``status`` (``skipped``/``succeeded``/``failed``), ``changed``,
    ``words``, ``budget``, ``queries``, ``adversarial`` (ids), and the LM perplexities when ``lm`` is given.

    ``model``: a classifier with ``embed`` (its ``W``, V x D), ``embed_reviews``,
    ``logits_from_embeddings`` and ``__call__`` on a list of id arrays (as
    :class:`~interpretable_adv.nets.Classifier`); ``candidates``: word ->
    candidate ids (:func:`shared_candidates`).
    """
    original = np.asarray(chainer.backends.cuda.to_cpu(ids), dtype=np.int32)
    words = int(np.sum(original != EOS_ID))   # every token but <eos>
    budget = budget_of(words, settings.max_share)
    loss, predicted = _losses(model, [original], label)
    result = {"label": int(label), "clean_prediction": int(predicted[0]), "words": words, "budget": budget,
              "queries": 1, "changed": 0, "positions": [], "adversarial": original.tolist()}
    ppl_limit = None
    if lm is not None:
        result["ppl_original"] = float(perplexity_of(lm, [original])[0])
        if settings.max_ppl_ratio is not None:
            ppl_limit = settings.max_ppl_ratio * result["ppl_original"]
    if predicted[0] != label:
        result["status"] = "skipped"
        return result
    current = original.copy()
    changed = np.zeros(len(original), dtype=bool)
    changed[np.isin(original, PROTECTED_IDS)] = True   # never substituted
    xp = model.xp
    embeddings = chainer.backends.cuda.to_cpu(model.embed.W.array)
    status = "failed"
    while result["changed"] < budget:
        gradient = chainer.backends.cuda.to_cpu(review_gradient(model, xp.asarray(current), label))
        result["queries"] += 1
        ranked = _ranked_substitutions(gradient, current, original, changed, candidates, embeddings,
                                       settings.top * (FILTER_DEPTH if ppl_limit is not None else 1))
        chosen = _admissible(ranked, current, settings, lm, ppl_limit)
        if not chosen:
            break   # nothing admissible is left
        reviews = [_substituted(current, t, c) for t, c in chosen]
        losses, predictions = _losses(model, reviews, label)
        result["queries"] += len(chosen)
        flipped = np.flatnonzero(predictions != label)
        best = int(flipped[np.argmax(losses[flipped])]) if len(flipped) else int(np.argmax(losses))
        t, c = chosen[best]
        current, changed[t] = reviews[best], True
        result["changed"] += 1
        result["positions"].append(int(t))
        if len(flipped):
            status = "succeeded"
            break
    result["status"] = status
    result["adversarial"] = current.tolist()
    if lm is not None and status == "succeeded":
        result["ppl_adversarial"] = float(perplexity_of(lm, [current])[0])
    return result


def _ranked_substitutions(gradient, current, original, changed, candidates, embeddings, limit):
    """The ``limit`` best admissible ``(t, c)`` pairs at unchanged positions, by first-order score
    ``g_t . (e_c - e_{w_t})``, best first (ties: earlier position, then the candidate list's order)."""
    positions, words, scores = [], [], []
    for t in np.flatnonzero(~changed):
        options = candidates.get(int(original[t]))
        if options is None or len(options) == 0:
            continue
        options = options[options != current[t]]
        scores.append(embeddings[options] @ gradient[t] - float(embeddings[current[t]] @ gradient[t]))
        positions.append(np.full(len(options), t))
        words.append(options)
    if not scores:
        return []
    best = np.argsort(-np.concatenate(scores), kind="stable")[:limit]
    return list(zip(np.concatenate(positions)[best].tolist(), np.concatenate(words)[best].tolist()))


# How far down the ranking the LM filter looks for admissible substitutions in one step (in multiples of ``top``).
FILTER_DEPTH = 8


def _admissible(ranked, current, settings, lm, ppl_limit):
    """The first ``settings.top`` substitutions of ``ranked`` the LM filter admits (all of them without a filter)."""
    if ppl_limit is None:
        return ranked[:settings.top]
    looked = ranked[:settings.top * FILTER_DEPTH]
    chosen = []
    for start in range(0, len(looked), 2 * settings.top):
        block = looked[start:start + 2 * settings.top]
        ppl = perplexity_of(lm, [_substituted(current, t, c) for t, c in block])
        chosen += [pair for pair, value in zip(block, ppl) if value <= ppl_limit]
        if len(chosen) >= settings.top:
            break
    return chosen[:settings.top]


def _substituted(ids, t, c):
    out = ids.copy()
    out[t] = c
    return out


def attack_summary(results):
    """TextAttack's summary table of a list of :func:`attack_review` results (percentages as 0-100)."""
    n = len(results)
    succeeded = [r for r in results if r["status"] == "succeeded"]
    failed = [r for r in results if r["status"] == "failed"]
    skipped = [r for r in results if r["status"] == "skipped"]
    attacked = succeeded + failed
    summary = {
        "Number of successful attacks": len(succeeded),
        "Number of failed attacks": len(failed),
        "Number of skipped attacks": len(skipped),
        "Original accuracy": 100.0 * len(attacked) / n if n else None,
        "Accuracy under attack": 100.0 * len(failed) / n if n else None,
        "Attack success rate": 100.0 * len(succeeded) / len(attacked) if attacked else None,
        "Average perturbed word %": float(np.mean([100.0 * r["changed"] / r["words"] for r in succeeded]))
        if succeeded else None,
        "Average num. words per input": float(np.mean([r["words"] for r in results])) if n else None,
        "Avg num queries": float(np.mean([r["queries"] for r in attacked])) if attacked else None,
    }
    if succeeded and all("ppl_adversarial" in r for r in succeeded):
        summary["Average Original Perplexity"] = float(np.mean([r["ppl_original"] for r in succeeded]))
        summary["Average Attack Perplexity"] = float(np.mean([r["ppl_adversarial"] for r in succeeded]))
    return summary
