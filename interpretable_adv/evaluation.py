"""Evaluation of adversarial examples (DESIGN section 6): discretisation, LM perplexity, flips.

For a trained classifier and a review, :func:`adversarial_example` computes the
perturbation its method would use in training (gradient of the cross-entropy
with the true label, dropout off) and :func:`discretize_nearest` /
:func:`discretize_direction` turn ``x + d`` back into words:

* ``nearest``: per token, the vocabulary word nearest (Euclidean) to ``x_t + d_t``;
* ``direction``: per token with a non-zero perturbation, the neighbour whose
  direction ``u_k`` has the highest cosine with ``d_t`` (Sato et al.; the first
  word in the cells of Figures 2-4); unperturbed tokens keep their word.

:func:`review_nll` scores a review with the language model, state reset per
review, ``<eos>`` as the start symbol and every token (``<eos>`` included)
predicted; ``inputs`` lets the LM read perturbed embeddings (``continuous``).
"""

import chainer
import chainer.functions as F
import numpy as np

from interpretable_adv import adversarial as adv
from interpretable_adv.data import EOS_ID
from interpretable_adv.lstm import lstm_sequences
from interpretable_adv.neighbors import NeighborTable

# ----------------------------------------------------------------------------- discretisation

def discretize_nearest(points, embeddings, block_size=512):
    """Id of the vocabulary row nearest (Euclidean) to each of ``points`` (N, D)."""
    xp = chainer.backend.get_array_module(points)
    squared = (embeddings * embeddings).sum(axis=1)
    out = xp.empty(len(points), dtype=xp.int32)
    for start in range(0, len(points), block_size):
        block = points[start:start + block_size]
        distances = squared[None, :] - 2.0 * (block @ embeddings.T)   # ||p||^2 is constant per row
        out[start:start + block_size] = distances.argmin(axis=1)
    return out


def discretize_direction(perturbation, word_ids, neighbor_ids, embeddings):
    """Per token: the neighbour whose direction is closest (cosine) to ``d_t``; unperturbed tokens stay.

    ``perturbation`` (N, D), ``word_ids`` (N,), ``neighbor_ids`` the (V, K) table.
    """
    xp = chainer.backend.get_array_module(perturbation)
    directions = adv.neighbor_directions(embeddings, word_ids, neighbor_ids)       # (N, K, D) unit
    norms = xp.sqrt((perturbation * perturbation).sum(axis=1))
    cosines = (directions * perturbation[:, None, :]).sum(axis=2) / xp.maximum(norms, 1e-12)[:, None]
    best = neighbor_ids[word_ids, cosines.argmax(axis=1)]
    return xp.where(norms > 0, best, word_ids).astype(xp.int32)


# ----------------------------------------------------------------------------- perturbations

def review_gradient(classifier, ids, label):
    """dL/dx (L_b, D) of the cross-entropy with the true label; dropout off, weights fixed."""
    with chainer.using_config("train", False):
        x = chainer.Variable(classifier.embed_reviews([ids]).array)
        loss = F.softmax_cross_entropy(classifier.logits_from_embeddings(x, [len(ids)]),
                                       classifier.xp.asarray([label], dtype=np.int32))
        (grad,) = chainer.grad([loss], [x])
    return grad.array


def adversarial_example(classifier, ids, label, method, eps, neighbor_ids=None, sigma=0.75,
                        norm="exact", iadvt_weights="token", towards_only=False, spgd_rank="raw"):
    """Perturbation ``d`` (L_b, D) of one review by ``method`` (M = 1), as in training."""
    xp = classifier.xp
    grad = review_gradient(classifier, ids, label)[None]
    lengths = xp.asarray([len(ids)])
    if method == "advt":
        return adv.advt_perturbation(grad, lengths, eps, norm)[0]
    directions = adv.neighbor_directions(classifier.embed.W.array, xp.asarray(ids)[None], neighbor_ids)
    if method == "iadvt":
        return adv.iadvt_perturbation(grad, directions, lengths, eps, iadvt_weights, norm)[0]
    if method == "spgd":
        return adv.spgd_perturbation(grad, directions, lengths, eps, sigma, towards_only, norm, spgd_rank)[0]
    raise ValueError("unknown method %r" % method)


def predict(classifier, ids, perturbation=None):
    """Predicted class of one review (optionally of ``x + d``), dropout off."""
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        x = classifier.embed_reviews([classifier.xp.asarray(ids)])
        if perturbation is not None:
            x = x + perturbation
        return int(classifier.logits_from_embeddings(x, [len(ids)]).array.argmax())


# ----------------------------------------------------------------------------- LM perplexity

def review_nll(lm, ids, perturbation=None):
    """Per-token negative log-likelihoods (L,) of a review under the LM, state reset.

    Input ``<eos> w_1 .. w_{L-1}``, targets ``w_1 .. w_L`` (the last is ``<eos>``).
    With ``perturbation`` (L, D_lm) the LM reads ``E[input] + d`` instead of
    ``E[input]`` (``d`` shifted to the input position of each word).
    """
    xp = lm.xp
    ids = xp.asarray(ids, dtype=np.int32)
    inputs = xp.concatenate([xp.asarray([EOS_ID], dtype=np.int32), ids[:-1]])
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        e = lm.embed(inputs)
        if perturbation is not None:
            shifted = xp.concatenate([xp.zeros((1, e.shape[1]), e.dtype), perturbation[:-1]])
            e = e + shifted
        _, _, ys = lstm_sequences(lm.rnn, None, None, [e])
        return lm.output.nll(ys[0], ids).array


def perplexity(nll_arrays):
    """Per-word perplexity ``exp(sum NLL / tokens)`` over several reviews, and the mean of per-review ones."""
    total = sum(float(a.sum()) for a in nll_arrays)
    count = sum(int(a.size) for a in nll_arrays)
    per_review = [float(np.exp(float(a.mean()))) for a in nll_arrays]
    return float(np.exp(total / count)), float(np.mean(per_review))


def spgd_two_word_example(classifier, vocab, words, label, eps, k, sigma=0.5):
    """SPGD's steps on a two-word review, for Figure 1 (all numbers computed, nothing drawn by hand).

    Returns, per word, the AdvT step ``r_t``, its ``k`` neighbour directions
    (and words), the chosen direction, the projection ``rhat_t`` and whether the
    sparsification kept it (``floor((1 - sigma) * 2)`` of the two are kept).
    """
    xp = classifier.xp
    ids = xp.asarray([vocab.index[w] for w in words], dtype=np.int32)
    embeddings = classifier.embed.W.array
    neighbors = NeighborTable(k)
    neighbors.refresh(embeddings)
    table = neighbors.lookup(ids)
    grad = review_gradient(classifier, ids, label)[None]
    lengths = xp.asarray([len(ids)])
    r = adv.advt_perturbation(grad, lengths, eps)[0]
    directions = adv.neighbor_directions(embeddings, ids[None], table)[0]
    rhat = adv.spgd_project(r[None], directions[None])[0]
    mask = adv.spgd_sparsify_mask(xp.sqrt((r * r).sum(axis=1))[None], lengths, sigma)[0]
    to_cpu = chainer.backends.cuda.to_cpu
    out = []
    for t, word in enumerate(words):
        out.append({"word": word, "r": to_cpu(r[t]).tolist(), "rhat": to_cpu(rhat[t]).tolist(),
                    "directions": to_cpu(directions[t]).tolist(),
                    "neighbor_words": [vocab.words[int(i)] for i in to_cpu(table[ids[t]])],
                    "best": int(to_cpu((directions[t] * r[t]).sum(axis=1)).argmax()), "kept": bool(mask[t])})
    return {"words": out, "sigma": sigma, "eps": eps, "kept_count": int(to_cpu(mask).sum())}
