"""The paper's equation 9 (beyond the paper): a class-conditional LM term in the perturbation's gradient.

The paper's conclusion proposes, untried, to keep adversarial examples
label-consistent by a class-conditional language model ``p_l(x | y)``::

    d = -eps g / ||g||,   g = grad_x [ log p(y | x) - log p_l(x | y) ]          (9)

Since ``-log p(y | x)`` is the classifier's loss ``L`` and ``-log p_l(x | y)``
the LM's negative log-likelihood ``N_l``, ``-g = grad_x [ L - beta N_l ]``:
the perturbation climbs the classifier's loss while keeping the review likely
under its own label. ``beta`` (``--lm-weight``) is 1 in equation 9. Per
review, ``N_l(x_b | y_b)`` is the sum over its tokens (a sequence
log-likelihood, as in eq. 9), and the batch objective is the mean over
reviews, like the classifier's loss, so that with ``beta = 1`` each review's
direction mixes the two gradients exactly as eq. 9 does for that review. The
sum ``L - beta N_l`` is then normalised and, for SPGD, projected onto the
neighbour directions and sparsified like the plain gradient (the combined
direction is what Algorithm 1 receives).

How the LM's gradient reaches the classifier's embedding space. The
perturbation ``d_t`` lives in the classifier's input space (added to
``E_c[w_t]``); the LM has its own table ``E_l``. The classifier is initialised
from the pretrained LM (``E_c = E_l`` at the start) and the conditional LM is
fine-tuned from that same LM, so both tables share one coordinate system and
drift apart only by training. The LM reads the same displacement ``d_t``:

* ``offset`` (default): the LM reads ``E_l[w_t] + d_t``: its own, in-distribution
  embedding moved by the classifier's displacement; the gradient is exact for
  "the same ``d`` added to both models' inputs" and needs no map between tables;
* ``tied``: the LM reads ``E_c[w_t] + d_t``, the classifier's current embeddings
  (exact "tied" inputs; the LM then reads vectors it was not trained on as the
  classifier's table drifts).

Either way the term is differentiated with respect to ``d`` only: the LM is
frozen (never in the optimizer; ``chainer.grad`` fills no parameter gradient),
runs with dropout off, and needs equal embedding sizes (checked). The LM reads
``<eos> w_1 .. w_{L-1}`` and scores ``w_1 .. w_L`` (as in Table 1's
perplexities), so ``d_t`` acts on the LM through the words that follow
``w_t`` (the LM's softmax scores discrete next words: the likelihood of the
perturbed vector itself as a target is not defined), and the last token's
``d`` gets no LM gradient.
"""

import chainer
import chainer.functions as F

from interpretable_adv.data import EOS_ID
from interpretable_adv.lstm import lstm_sequences
from interpretable_adv.nets import split_by_lengths

# What the LM of the term reads: its own embeddings + d (offset) or the classifier's + d (tied).
LM_INPUTS = ("offset", "tied")


class LMTerm:
    """``beta grad_d mean_b N_l(x_b + d_b | y_b)`` for a batch: the LM half of equation 9.

    ``lm``: a class-conditional :class:`~interpretable_adv.nets.LanguageModel`
    (an unconditional one gives the unconditional variant ``-log p_l(x)``);
    ``weight``: beta; ``inputs``: ``offset`` or ``tied`` (module docstring).
    """

    def __init__(self, lm, weight=1.0, inputs="offset"):
        if inputs not in LM_INPUTS:
            raise ValueError("inputs must be one of %s, got %r" % (", ".join(LM_INPUTS), inputs))
        self.lm, self.weight, self.inputs = lm, float(weight), inputs
        self.last_share = None   # per review, the LM term's share of the latest combine()'s direction (array)

    def describe(self):
        return "LM term (eq. 9, beta %.3g, %s)" % (self.weight, self.inputs)

    def review_nll(self, words, layout, labels, embeddings=None, shift=None):
        """Per-token NLL (N,) of the reviews under the LM, as a Variable, and its input Variable (N, D).

        ``words`` (N,) flat ids, ``layout`` their
        :class:`~interpretable_adv.perturbation.BatchLayout`, ``labels`` (B,)
        the reviews' classes; ``embeddings`` the classifier's table (``tied``);
        ``shift`` (N, D) a perturbation ``d`` on the words (moved to the input
        position where the LM reads each word).
        """
        xp, lm = layout.xp, self.lm
        starts = layout.position == 0
        previous = xp.arange(len(words)) - 1                      # -1 only at the first review's start
        input_ids = xp.where(starts, EOS_ID, words[previous]).astype(xp.int32)
        table = lm.embed.W.array if self.inputs == "offset" else embeddings
        base = table[input_ids]
        if shift is not None:
            base = base + xp.where(starts[:, None], 0, shift[previous]).astype(base.dtype)
        x = chainer.Variable(base)
        with chainer.using_config("train", False):
            e = lm.condition(x, xp.asarray(labels, dtype=xp.int32)[layout.batch])
            _, _, ys = lstm_sequences(lm.rnn, None, None, list(split_by_lengths(e, layout.lengths.tolist())))
            return lm.output.nll(F.concat(ys, axis=0), words), x

    def nll_gradient(self, words, layout, labels, embeddings=None, shift=None):
        """``beta grad_d [ (1/B) sum_b N_l(x_b + d_b | y_b) ]`` (N, D) at ``d = shift`` (None: 0)."""
        xp = layout.xp
        nll, x = self.review_nll(words, layout, labels, embeddings, shift)
        objective = F.sum(nll) * (self.weight / len(layout.lengths))
        (grad_inputs,) = chainer.grad([objective], [x])
        grad_inputs = grad_inputs.array
        # d_t is read at the next input position of its review; a review's last token is read by no step.
        following = xp.minimum(xp.arange(len(words)) + 1, len(words) - 1)
        last = layout.position == layout.lengths_xp[layout.batch] - 1
        return xp.where(last[:, None], 0, grad_inputs[following]).astype(grad_inputs.dtype)

    def combine(self, grad, words, layout, labels, embeddings=None, shift=None):
        """Equation 9's ``-g`` (N, D): the classifier's ``grad`` of its loss minus beta grad N_l.

        Records per review ``||beta grad N_l|| / (||beta grad N_l|| + ||grad L||)`` in
        :attr:`last_share` (0: the classifier's gradient alone, 1: the LM's alone;
        a share, because a confident classifier's gradient can underflow to 0).
        """
        xp = layout.xp
        lm_grad = self.nll_gradient(words, layout, labels, embeddings, shift)

        def per_review(a):
            return xp.sqrt(xp.bincount(layout.batch, weights=(a * a).sum(axis=1), minlength=len(layout.lengths)))

        lm_norm = per_review(lm_grad)
        self.last_share = lm_norm / xp.maximum(lm_norm + per_review(grad), 1e-30)
        return grad - lm_grad
