#!/usr/bin/env python
"""SPGD adversarial training on a Chainer text classifier of your own (not this package's).

    python examples/spgd_on_your_model.py                  # a toy sentiment task, about 10 s on a CPU
    python examples/spgd_on_your_model.py --eps 0          # the same training without the adversarial term

The model is any ``chainer.Chain`` that embeds padded token ids and can be
run from the embeddings; here a masked mean of the embeddings and an MLP.
Each update, as in the paper (Barham & Feizi 2019, Algorithm 1; loss of eq. 2):

1. ``x = E[w]`` (B, T, D) and the clean loss ``L(x)``;
2. ``g = dL/dx``: the gradient of the loss the attack *increases* (the true
   label's cross-entropy), so ``d`` points uphill; padding is not a token:
   only the first ``L_b`` positions of review ``b`` enter (flat layout);
3. ``d = Perturbation("spgd", eps, sigma)(Batch(g, words, layout, E, table))``:
   AdvT's step ``r``, each token's projection onto its best neighbour
   direction ``(E[v] - E[w]) / ||E[v] - E[w]||`` among its K nearest
   neighbours, and the ``floor((1 - sigma) L_b)`` largest kept;
4. ``L(x) + lambda L(x + d)`` with ``d`` held constant, one backward, one update;
5. every ``--neighbor-interval`` updates the neighbour table takes a new
   snapshot of ``E`` (the embeddings move while training).

The size of ``d``: with ``perturbation_norm="exact"`` the raw step has
``||r_b|| = eps`` per review (the package's default, ``upstream``, is the
upstream code's normalisation: see README "Resolved ambiguities"); the
projection and the sparsification then only shorten it, so SPGD's final
``||d_b||`` is at most eps (here about a tenth of it: a quarter of the words, each
step's component along one direction). The script checks on every update that
``||d_b|| <= eps``, that ``floor((1 - sigma) L_b)`` words move, and that each
moved word moves along one of its neighbour directions, and prints the sizes.
"""

import argparse
import sys

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np

from interpretable_adv.methods import Batch
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.perturbation import BatchLayout, Perturbation

PAD = -1   # EmbedID(ignore_label=-1) embeds padding as zeros


class MeanOfEmbeddings(chainer.Chain):
    """Your model: padded ids (B, T) -> embeddings (B, T, D) -> masked mean -> MLP -> 2 logits."""

    def __init__(self, n_vocab, dim=16, hidden=32):
        super().__init__()
        with self.init_scope():
            self.embed = L.EmbedID(n_vocab, dim, ignore_label=PAD)
            self.hidden = L.Linear(dim, hidden)
            self.out = L.Linear(hidden, 2)

    def logits_from_embeddings(self, x, mask):
        """The part after the embedding: what SPGD perturbs the input of."""
        pooled = F.sum(x * mask[:, :, None], axis=1) / mask.sum(axis=1, keepdims=True)
        return self.out(F.relu(self.hidden(pooled)))


def toy_reviews(n, n_vocab, rng):
    """Reviews of 6-20 neutral words plus 1-3 words of their class (ids 2-11 positive, 12-21 negative)."""
    reviews, labels = [], []
    for _ in range(n):
        label = int(rng.randint(2))
        words = list(rng.randint(22, n_vocab, size=rng.randint(6, 21)))
        for _ in range(rng.randint(1, 4)):
            words.insert(rng.randint(len(words) + 1), rng.randint(2, 12) if label else rng.randint(12, 22))
        reviews.append(np.asarray(words, np.int32))
        labels.append(label)
    return reviews, np.asarray(labels, np.int32)


def padded(reviews):
    lengths = np.asarray([len(r) for r in reviews])
    ids = np.full((len(reviews), lengths.max()), PAD, np.int32)
    for b, review in enumerate(reviews):
        ids[b, :len(review)] = review
    return ids, lengths, (ids != PAD).astype(np.float32)


def spgd_update(model, optimizer, perturbation, table, reviews, labels, adv_weight):
    """One update of ``L(x) + lambda L(x + d)``; returns ``d`` (flat, (N, D)) and the batch layout."""
    ids, lengths, mask = padded(reviews)
    layout = BatchLayout(lengths, np)
    x = model.embed(ids)                                              # (B, T, D), padding rows zero
    loss = F.softmax_cross_entropy(model.logits_from_embeddings(x, mask), labels)
    (g,) = chainer.grad([loss], [x])                                  # dL/dx: uphill for the true label
    words = ids[layout.batch, layout.position]                        # (N,) the real tokens only
    d = perturbation(Batch(layout.flat(g.array), words, layout, labels=labels,
                           embeddings=model.embed.W.array, neighbors=table))
    loss_adv = F.softmax_cross_entropy(model.logits_from_embeddings(x + layout.pad(d), mask), labels)
    model.cleargrads()
    (loss + adv_weight * loss_adv).backward()                         # d is a constant: no gradient through it
    optimizer.update()
    return d, layout


def accuracy(model, reviews, labels):
    ids, _, mask = padded(reviews)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        return float((model.logits_from_embeddings(model.embed(ids), mask).array.argmax(axis=1) == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, default=1.0, help="epsilon: each review's ||d_b|| (0: no attack)")
    parser.add_argument("--sigma", type=float, default=0.75, help="sparsity: keep floor((1 - sigma) L) words")
    parser.add_argument("--n-neighbors", "-k", type=int, default=5, help="K nearest neighbours per word")
    parser.add_argument("--adv-weight", type=float, default=1.0, help="lambda")
    parser.add_argument("--neighbor-interval", type=int, default=50, help="updates between table refreshes")
    parser.add_argument("--iterations", "-i", type=int, default=300)
    parser.add_argument("--batchsize", "-b", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.RandomState(args.seed)
    np.random.seed(args.seed)
    n_vocab = 200
    train, train_labels = toy_reviews(2000, n_vocab, rng)
    test, test_labels = toy_reviews(500, n_vocab, rng)
    model = MeanOfEmbeddings(n_vocab)
    optimizer = chainer.optimizers.Adam(alpha=0.01)
    optimizer.setup(model)
    perturbation = Perturbation("spgd", args.eps, sigma=args.sigma, perturbation_norm="exact")
    table = NeighborTable(args.n_neighbors)   # K lives in the table: each word's K nearest rows of E
    print("before training: test accuracy %.3f" % accuracy(model, test, test_labels))
    for iteration in range(args.iterations):
        if iteration % args.neighbor_interval == 0:
            table.refresh(model.embed.W.array)
        batch = rng.choice(len(train), args.batchsize, replace=False)
        embeddings = model.embed.W.array.copy()   # E as d saw it (the update moves it), for the check below
        d, layout = spgd_update(model, optimizer, perturbation, table, [train[i] for i in batch],
                                train_labels[batch], args.adv_weight)
        norms, moved = check_spgd(d, layout, [train[i] for i in batch], table, embeddings, args)
    print("after %d updates: test accuracy %.3f; last batch: ||d_b|| %.3f-%.3f (eps %g), %d of %d words moved"
          % (args.iterations, accuracy(model, test, test_labels), norms.min(), norms.max(), args.eps, moved.sum(),
             layout.lengths.sum()))
    return 0


def check_spgd(d, layout, reviews, table, embeddings, args):
    """SPGD's d of one batch: ``||d_b|| <= eps``, ``floor((1 - sigma) L_b)`` words moved, each along one
    neighbour direction ``u = (E[v] - E[w]) / ||E[v] - E[w]||`` of its word (AssertionError otherwise)."""
    norms = np.sqrt(np.bincount(layout.batch, weights=(d * d).sum(axis=1), minlength=len(reviews)))
    step = np.sqrt((d * d).sum(axis=1))
    moved = np.bincount(layout.batch, weights=step > 0, minlength=len(reviews))
    assert (norms <= args.eps * (1 + 1e-5)).all()
    assert (moved == (np.floor((1 - args.sigma) * layout.lengths + 1e-9) if args.eps else 0)).all()
    words = np.concatenate(reviews)
    for t in np.flatnonzero(step):
        neighbours = embeddings[table.lookup(words[t:t + 1])[words[t]]] - embeddings[words[t]]   # (K, D)
        cosines = neighbours @ d[t] / (np.linalg.norm(neighbours, axis=1) * step[t])
        assert np.isclose(np.abs(cosines).max(), 1.0, atol=1e-4)   # +1: towards the word, -1: away from it
    return norms, moved


if __name__ == "__main__":
    sys.exit(main())
