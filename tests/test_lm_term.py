"""Equation 9's LM term and the class-conditional LM, checked against independent computations.

* the term's gradient against central finite differences of the LM's summed
  NLL (float64), at d = 0 and at a shifted point (SPGD's further steps), for
  both ``offset`` and ``tied`` inputs;
* the LM's per-review NLL against Table 1's one-review reader (written
  separately), perturbed or not;
* the whole eq. 9 direction of AdvT against finite differences of
  ``L(x + d) - beta N_l(x + d)`` through the classifier and the LM;
* a zero-initialised label embedding gives exactly the unconditional LM;
* the labelled stream gives each step the label of the review its target belongs to.
"""

import chainer
import chainer.functions as F
import numpy as np
import pytest

from interpretable_adv.iterators import StreamIterator
from interpretable_adv.lm_term import LMTerm
from interpretable_adv.nets import Classifier, LanguageModel
from interpretable_adv.methods import Batch
from interpretable_adv.perturbation import BatchLayout, Perturbation
from interpretable_adv.reports.table1 import review_nll

V, D, H = 20, 4, 5
LENGTHS = [4, 3, 5]


def float64_lm(n_labels=2, seed=0):
    np.random.seed(seed)
    with chainer.using_config("dtype", np.float64):
        lm = LanguageModel(V, embed_dim=D, hidden_dim=H, dropout=0.5, softmax="adaptive", cutoffs=(6, 12),
                           init_scale=0.5, n_labels=n_labels)
    if n_labels:
        lm.label_embed.W.array[...] = np.random.RandomState(seed + 1).normal(0, 0.5, (n_labels, D))
    return lm


def batch(seed=0):
    rng = np.random.RandomState(seed)
    words = rng.randint(2, V, size=sum(LENGTHS)).astype(np.int32)
    labels = np.array([1, 0, 1], dtype=np.int32)
    return words, BatchLayout(LENGTHS, np), labels


def summed_nll(term, words, layout, labels, embeddings, shift):
    nll, _ = term.review_nll(words, layout, labels, embeddings, shift)
    return float(F.sum(nll).array)


@pytest.mark.parametrize("inputs", ["offset", "tied"])
@pytest.mark.parametrize("at_shift", [False, True])
def test_lm_term_gradient_matches_finite_differences(inputs, at_shift):
    lm = float64_lm()
    words, layout, labels = batch()
    classifier_table = np.random.RandomState(5).normal(0, 1, (V, D))
    term = LMTerm(lm, weight=0.7, inputs=inputs)
    rng = np.random.RandomState(9)
    shift = rng.normal(0, 0.3, (len(words), D)) if at_shift else np.zeros((len(words), D))
    analytic = term.nll_gradient(words, layout, labels, classifier_table, shift if at_shift else None)
    numeric = np.zeros_like(shift)
    h = 1e-6
    for i in range(shift.shape[0]):
        for j in range(D):
            up, down = shift.copy(), shift.copy()
            up[i, j] += h
            down[i, j] -= h
            numeric[i, j] = (summed_nll(term, words, layout, labels, classifier_table, up)
                             - summed_nll(term, words, layout, labels, classifier_table, down)) / (2 * h)
    numeric *= 0.7 / len(LENGTHS)   # beta, and the mean over reviews
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    last = np.cumsum(LENGTHS) - 1
    assert np.all(analytic[last] == 0)   # a review's last token is read by no step
    assert np.abs(analytic).sum() > 0


def test_review_nll_matches_table1_reader():
    """Unconditional LM: the batched reader equals Table 1's one-review reader, with and without d."""
    lm = float64_lm(n_labels=0)
    words, layout, labels = batch(1)
    d = np.random.RandomState(2).normal(0, 0.4, (len(words), D))
    term = LMTerm(lm)
    for shift in (None, d):
        nll, _ = term.review_nll(words, layout, labels, shift=shift)
        start = 0
        for length in LENGTHS:
            one = review_nll(lm, words[start:start + length], None if shift is None else shift[start:start + length])
            np.testing.assert_allclose(nll.array[start:start + length], one, rtol=1e-10)
            start += length


def test_label_changes_conditional_nll():
    lm = float64_lm()
    words, layout, labels = batch()
    term = LMTerm(lm)
    assert abs(summed_nll(term, words, layout, labels, None, None)
               - summed_nll(term, words, layout, 1 - labels, None, None)) > 1e-3


def test_eq9_advt_direction_matches_finite_differences():
    """AdvT + LM term: d = eps v / ||v|| per review with v = grad_d [L(x + d) - beta N_l(x + d)] at d = 0."""
    lm = float64_lm()
    words, layout, labels = batch(3)
    np.random.seed(4)
    with chainer.using_config("dtype", np.float64):
        clf = Classifier(V, embed_dim=D, hidden_dim=H, fc_dim=3, dropout=0.0, fc_bias=1.0)   # bias: no dead ReLU
    beta, eps = 0.4, 0.5
    perturbation = Perturbation("advt", eps, lm_term=LMTerm(lm, weight=beta), perturbation_norm="exact")
    x = clf.embed.W.array[words]

    def objective(shift):
        with chainer.using_config("train", False):
            loss = F.softmax_cross_entropy(clf.logits_from_inputs(x + shift, LENGTHS), labels)
        return float(loss.array) - beta * summed_nll(perturbation.lm_term, words, layout, labels, None, shift) / 3

    v = np.zeros_like(x)
    h = 1e-6
    for i in range(x.shape[0]):
        for j in range(D):
            up, down = np.zeros_like(x), np.zeros_like(x)
            up[i, j], down[i, j] = h, -h
            v[i, j] = (objective(up) - objective(down)) / (2 * h)
    expected = np.zeros_like(v)
    start = 0
    for length in LENGTHS:
        part = v[start:start + length]
        expected[start:start + length] = eps * part / np.linalg.norm(part)
        start += length

    with chainer.using_config("train", False):
        xv = chainer.Variable(x.copy())
        loss = F.softmax_cross_entropy(clf.logits_from_inputs(xv, LENGTHS), labels)
        (grad,) = chainer.grad([loss], [xv])
    d = perturbation(Batch(grad.array, words, layout, labels=labels, embeddings=clf.embed.W.array))
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-6)
    share = perturbation.lm_term.last_share
    assert share.shape == (3,) and np.all((share > 0) & (share < 1))

    # SPGD's further steps (M > 1): the combined gradient at x + r, r padded (B, T, D)
    def classifier_gradient(r):
        with chainer.using_config("train", False):
            xr = chainer.Variable(x + layout.flat(r))
            loss = F.softmax_cross_entropy(clf.logits_from_inputs(xr, LENGTHS), labels)
            (g,) = chainer.grad([loss], [xr])
        return layout.pad(g.array)

    r_flat = np.random.RandomState(8).normal(0, 0.2, x.shape)
    combined_gradient = perturbation._with_lm_term(Batch(grad.array, words, layout, labels=labels,
                                                         embeddings=clf.embed.W.array,
                                                         input_gradient=classifier_gradient)).input_gradient
    at_r = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(D):
            up, down = r_flat.copy(), r_flat.copy()
            up[i, j] += h
            down[i, j] -= h
            at_r[i, j] = (objective(up) - objective(down)) / (2 * h)
    np.testing.assert_allclose(layout.flat(combined_gradient(layout.pad(r_flat))), at_r, rtol=1e-5, atol=1e-6)


def test_lm_term_needs_labels():
    perturbation = Perturbation("advt", 1.0, lm_term=LMTerm(float64_lm()), perturbation_norm="exact")
    words, layout, _ = batch()
    with pytest.raises(ValueError, match="labels"):
        perturbation(Batch(np.ones((len(words), D)), words, layout))


def test_zero_label_embedding_is_the_unconditional_lm():
    """A conditional LM fine-tuned from an unconditional one starts as exactly that LM."""
    plain = float64_lm(n_labels=0, seed=3)
    conditional = float64_lm(n_labels=2, seed=3)
    conditional.label_embed.W.array[...] = 0
    for name, param in plain.namedparams():
        dict(conditional.namedparams())[name].array[...] = param.array
    x = np.random.RandomState(0).randint(0, V, (2, 6)).astype(np.int32)
    t = np.random.RandomState(1).randint(0, V, (2, 6)).astype(np.int32)
    with chainer.using_config("train", False):
        base, _ = plain.token_nll(x, t)
        for labels in (np.zeros((2, 6), np.int32), np.ones((2, 6), np.int32)):
            cond, _ = conditional.token_nll(x, t, labels=labels)
            np.testing.assert_array_equal(cond.array, base.array)
    with pytest.raises(ValueError, match="labels"):
        conditional.token_nll(x, t)


def test_labelled_stream_gives_the_targets_labels():
    # three reviews: [5 6 eos] label 1, [7 eos] label 0, [8 9 10 eos] label 1
    tokens = np.array([5, 6, 0, 7, 0, 8, 9, 10, 0], dtype=np.int32)
    labels = np.array([1, 1, 1, 0, 0, 1, 1, 1, 1], dtype=np.int32)
    x, t, y = next(StreamIterator(tokens, batch_size=1, bptt_len=8, labels=labels))
    assert x.tolist() == [[5, 6, 0, 7, 0, 8, 9, 10]]
    assert t.tolist() == [[6, 0, 7, 0, 8, 9, 10, 0]]
    # the <eos> ending review 1 predicts 7 (review 2): it carries label 0; review 2's <eos> predicts 8: label 1
    assert y.tolist() == [[1, 1, 0, 0, 1, 1, 1, 1]]
    assert len(next(StreamIterator(tokens, batch_size=1, bptt_len=8))) == 2


def test_label_accuracy_against_one_review_at_a_time():
    """The generative check (argmax_y log p_l(x | y) per review) against LM.token_nll on each review alone."""
    from interpretable_adv.data import ReviewSplit
    from interpretable_adv.training.lm import label_accuracy

    lm = float64_lm(seed=2)
    rng = np.random.RandomState(4)
    reviews = [np.append(rng.randint(2, V, size=n), 0).astype(np.int32) for n in (3, 6, 2, 5, 4, 7, 3)]
    labels = np.array([0, 1, 1, 0, 1, 0, 0], dtype=np.int8)
    split = ReviewSplit(np.concatenate(reviews), np.concatenate([[0], np.cumsum([len(r) for r in reviews])]),
                        labels)
    expected = 0
    with chainer.using_config("train", False):
        for ids, y in zip(reviews, labels):
            x = np.concatenate([[0], ids[:-1]]).astype(np.int32)[None]

            def total(label):
                nll, _ = lm.token_nll(x, ids[None], labels=np.full(x.shape, label, np.int32))
                return float(nll.array.sum())

            expected += total(y) < total(1 - y)
    device = chainer.get_device("@numpy")
    assert 0 < expected < len(reviews)   # the case is not trivial
    assert label_accuracy(lm, split, device, n_reviews=len(reviews), batch_size=3) == expected / len(reviews)
    lm.label_embed.W.array[...] = 0   # no conditioning: never strictly better under the true label
    assert label_accuracy(lm, split, device, n_reviews=len(reviews)) == 0
