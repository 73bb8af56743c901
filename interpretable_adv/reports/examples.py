"""One test review and its adversarial versions, changed words marked; the numbers behind Figure 1.

For each adversarially trained run (AdvT, iAdvT, SPGD, and AdvT/SPGD with the
equation-9 LM term when present) the review is perturbed
as in training and discretised (``direction``: the neighbour each perturbed
word moved towards; ``nearest``: the nearest vocabulary word to ``x + d``).
Changed words are coloured in a terminal and written ``[[word]]`` otherwise.
``iadv interpret`` prints these; ``figures/make_figures.py`` draws them.
"""

import os

import chainer
import numpy as np

from interpretable_adv import adversarial as adv
from interpretable_adv import methods
from interpretable_adv.checkpoints import load_lm_term, load_run
from interpretable_adv.methods import Batch, stages
from interpretable_adv.errors import UsageError
from interpretable_adv.iterators import ReviewDataset
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.perturbation import BatchLayout
from interpretable_adv.reports.table1 import method_records, review_gradient


def mark(words, original, color):
    """Join ``words``, marking those that differ from ``original``."""
    out = []
    for word, before in zip(words, original):
        if word == before:
            out.append(word)
        elif color:
            out.append("\033[1;31m%s\033[0m" % word)
        else:
            out.append("[[%s]]" % word)
    return " ".join(out)



def perturbed_review(runs_dir, data, index, lm, device):
    """Tokens of test review ``index`` and, per method, its record (norms, discretisations, predictions)."""
    out = {}
    tokens = None
    for method in (row.name for row in methods.perturbed_rows()):
        run = os.path.join(runs_dir, method)
        if not os.path.isfile(os.path.join(run, "best_model.npz")):
            continue
        model, config = load_run(run, data, device)
        lm_term = load_lm_term(config, data, device)
        dataset = ReviewDataset(data.split("test"), config.get("max_length"), [index])
        review = dataset[0]
        tokens = data.vocab.decode(review[0].tolist())
        (record,) = method_records(method, model, config, lm, [review], lm_term)
        record["nearest_words"] = data.vocab.decode(record["nearest"])
        record["direction_words"] = data.vocab.decode(record["direction"])
        out[method] = record
    if tokens is None:
        raise UsageError("%s: no adversarial run (%s) with best_model.npz"
                         % (runs_dir, "/".join(row.name for row in methods.perturbed_rows())))
    return tokens, out



def spgd_two_word_example(classifier, vocab, words, label, perturbation, k):
    """SPGD's steps on a two-word review, for Figure 1 (all numbers computed, nothing drawn by hand).

    ``perturbation``: the SPGD run's :class:`~interpretable_adv.perturbation.Perturbation`
    (its eps and normalisation; Figure 1 uses sigma 0.5, so that one of the two
    words is kept). The raw step and the final perturbation are the SPGD
    recipe's own (:mod:`interpretable_adv.methods.spgd`); returns, per word, the
    raw step ``r_t``, its ``k`` neighbour directions (and words), the chosen
    direction, the projection ``rhat_t`` (for a kept word the recipe's ``d_t``)
    and whether the sparsification kept it (``floor((1 - sigma) * 2)`` of the two).
    """
    eps, sigma = perturbation.eps, perturbation.sigma
    xp = classifier.xp
    ids = xp.asarray([vocab.index[w] for w in words], dtype=np.int32)
    embeddings = classifier.embed.W.array
    neighbors = NeighborTable(k)
    neighbors.refresh(embeddings)
    table = neighbors.lookup(ids)
    batch = Batch(review_gradient(classifier, ids, label), ids, BatchLayout([len(ids)], xp), embeddings=embeddings,
                  neighbors=neighbors)
    r = stages.projected_steps(perturbation, batch)[0]   # the recipe's raw step (M steps; AdvT's for M = 1)
    d = perturbation(batch)                              # the recipe's result: kept words projected, others 0
    mask = xp.sqrt((d * d).sum(axis=1)) > 0
    directions = adv.neighbor_directions(embeddings, ids[None], table)[0]
    rhat = xp.where(mask[:, None], d, adv.spgd_project(r[None], directions[None])[0])   # what a dropped word had
    to_cpu = chainer.backends.cuda.to_cpu
    out = []
    for t, word in enumerate(words):
        out.append({"word": word, "r": to_cpu(r[t]).tolist(), "rhat": to_cpu(rhat[t]).tolist(),
                    "directions": to_cpu(directions[t]).tolist(),
                    "neighbor_words": [vocab.words[int(i)] for i in to_cpu(table[ids[t]])],
                    "best": int(to_cpu((directions[t] * r[t]).sum(axis=1)).argmax()), "kept": bool(mask[t])})
    return {"words": out, "sigma": sigma, "eps": eps, "kept_count": int(to_cpu(mask).sum())}

