"""One recipe per perturbation: which ``d`` a method adds to the embeddings, from the clean gradient.

:class:`Perturbation` is the only place that knows a method's settings
(epsilon and how it is resolved from the presets, the normalisation, iAdvT's
weights, SPGD's sigma, towards-only clamp, ranking and its M steps) and
dispatches to the equations of :mod:`interpretable_adv.adversarial`:

* ``advt``  (Miyato et al. eq. 5): ``d_b = eps g_b / ||g_b||``;
* ``iadvt`` (Sato et al.): the gradient expressed in neighbour directions,
  ``d_b = eps dd_b / ||dd_b||``;
* ``spgd``  (Algorithm 1): M AdvT steps of size eps / M, each projected onto the
  eps-ball (:func:`spgd_raw_steps`), then per-token projection onto the best
  neighbour direction and sparsification keeping ``floor((1 - sigma) L_b)``
  tokens.

With an :class:`~interpretable_adv.lm_term.LMTerm` (``--lm-term``, beyond the
paper) every method starts from equation 9's combined gradient instead of the
classifier's (and SPGD's further steps too).

Training (the adversarial updater), Table 1, ``iadv interpret`` and the
figures all build their perturbations with ``Perturbation.from_config(config)``.
"""

import chainer
import numpy as np

from interpretable_adv import adversarial as adv

ADVERSARIAL_METHODS = ("advt", "iadvt", "spgd")
# The paper's epsilon per method (Appendix B); reduced presets multiply all three by ``eps_scale``.
DEFAULT_EPS = {"advt": 5.0, "iadvt": 15.0, "spgd": 25.0}
# How tables, plots and the terminal name the methods.
METHOD_TITLES = {"advt": "AdvT-Text", "iadvt": "iAdvT-Text", "spgd": "SPGD"}
# Adversarial runs beyond the paper (run directories): AdvT and SPGD with equation 9's LM term.
LM_TERM_RUNS = ("advt_lm", "spgd_lm")
ADVERSARIAL_RUNS = ADVERSARIAL_METHODS + LM_TERM_RUNS
RUN_TITLES = dict(METHOD_TITLES, advt_lm="AdvT-Text + LM term (eq. 9)", spgd_lm="SPGD + LM term (eq. 9)")


class Perturbation:
    """The perturbation of one method with its settings; call it with a batch's clean gradient.

    ``norm``: ``exact`` (||d_b|| = eps) or ``upstream`` (``g / sqrt(1e-6 + ||g||^2)``);
    ``iadvt_weights``: ``token`` (upstream) or ``review`` (paper eq. 6);
    ``sigma``, ``towards_only``, ``spgd_rank`` (``raw``: Algorithm 1, or ``projected``)
    and ``spgd_steps`` (M) are SPGD's; ``lm_term``: an
    :class:`~interpretable_adv.lm_term.LMTerm` (equation 9) or None.
    """

    def __init__(self, method, eps, norm="exact", iadvt_weights="token", sigma=0.75, towards_only=False,
                 spgd_rank="raw", spgd_steps=1, lm_term=None):
        if method not in ADVERSARIAL_METHODS:
            raise ValueError("method must be one of %s, got %r" % (", ".join(ADVERSARIAL_METHODS), method))
        if spgd_steps < 1:
            raise ValueError("M (--spgd-steps) must be >= 1, got %r" % spgd_steps)
        self.method, self.eps, self.norm = method, float(eps), norm
        self.iadvt_weights, self.sigma, self.towards_only = iadvt_weights, sigma, towards_only
        self.spgd_rank, self.spgd_steps = spgd_rank, spgd_steps
        self.lm_term = lm_term

    @classmethod
    def from_config(cls, config, method=None, **overrides):
        """The perturbation of a run's configuration (``args.json``'s ``config`` or a preset's ``train``).

        epsilon is ``eps`` when given, else the paper's value for the method
        times ``eps_scale`` (1 in the ``paper`` preset; the reduced presets
        scale all three, keeping AdvT : iAdvT : SPGD = 5 : 15 : 25). A
        run with ``lm_term`` needs its :class:`~interpretable_adv.lm_term.LMTerm`
        passed as the ``lm_term`` override (it holds a loaded LM).
        """
        method = method or config["method"]
        eps = config.get("eps")
        if eps is None:
            eps = DEFAULT_EPS[method] * float(config.get("eps_scale", 1.0))
        settings = dict(eps=eps, norm=config.get("perturbation_norm", "exact"),
                        iadvt_weights=config.get("iadvt_weights", "token"), sigma=config.get("sigma", 0.75),
                        towards_only=bool(config.get("towards_only", False)),
                        spgd_rank=config.get("spgd_rank", "raw"), spgd_steps=config.get("spgd_steps", 1))
        settings.update(overrides)
        return cls(method, **settings)

    @property
    def needs_neighbors(self):
        return self.method != "advt"

    def raw_step(self, grad, lengths, eps=None):
        """AdvT's ``r`` from the gradient (B, T, D) with this perturbation's normalisation."""
        return adv.advt_perturbation(grad, lengths, self.eps if eps is None else eps, self.norm)

    def __call__(self, grad, words, layout, embeddings=None, neighbors=None, input_gradient=None, labels=None):
        """``d`` (N, D) for a batch's N = sum_b L_b tokens, from their clean gradient ``grad`` (N, D).

        ``words`` (N,) are the token ids and ``layout`` the batch's
        :class:`BatchLayout`; ``embeddings`` is the (V, D) matrix the neighbour
        directions are taken from and ``neighbors`` a
        :class:`~interpretable_adv.neighbors.NeighborTable` (iAdvT, SPGD).
        ``input_gradient(r)`` returns the gradient (B, T, D) at ``x + r`` for a
        padded ``r``; it is needed only for SPGD with M > 1. iAdvT runs on the
        flat tokens (:func:`~interpretable_adv.adversarial.iadvt_perturbation_flat`:
        no (B, T, K, D) tensor); AdvT and SPGD on the padded batch. ``labels``
        (B,): the reviews' classes, needed with an LM term (eq. 9's ``y``).
        """
        if self.lm_term is not None:
            grad, input_gradient = self._with_lm_term(grad, words, layout, embeddings, input_gradient, labels)
        if self.method == "iadvt":
            return adv.iadvt_perturbation_flat(grad, embeddings, words, neighbors.lookup(words), layout.batch,
                                               len(layout.lengths), self.eps, self.iadvt_weights, self.norm)
        lengths = layout.lengths_xp
        if self.method == "advt":
            return layout.flat(self.raw_step(layout.pad(grad), lengths))
        words = layout.pad(words)

        def directions_of(word_ids):
            return adv.neighbor_directions(embeddings, word_ids, neighbors.lookup(word_ids))

        r = spgd_raw_steps(self, layout.pad(grad), lengths, input_gradient)
        if self.spgd_rank == "raw":   # the mask needs only r: neighbour directions for the kept words only
            d = adv.spgd_from_raw_kept_only(r, lengths, self.sigma, lambda b, p: directions_of(words[b, p]),
                                            self.towards_only)
        else:
            d = adv.spgd_from_raw(r, directions_of(words), lengths, self.sigma, self.towards_only, self.spgd_rank)
        return layout.flat(d)

    def _with_lm_term(self, grad, words, layout, embeddings, input_gradient, labels):
        """Equation 9: the gradient (and SPGD's further gradients at ``x + r``) minus beta grad N_l."""
        if labels is None:
            raise ValueError("a perturbation with an LM term needs the reviews' labels")
        term = self.lm_term
        combined = term.combine(grad, words, layout, labels, embeddings)
        if input_gradient is None:
            return combined, None

        def combined_gradient(r):   # r padded (B, T, D); the LM reads the same r
            flat_r = layout.flat(r)
            return layout.pad(layout.flat(input_gradient(r))
                              - term.nll_gradient(words, layout, labels, embeddings, shift=flat_r))

        return combined, combined_gradient

    def describe(self):
        """A short line for logs and figures, e.g. ``SPGD eps 0.75, sigma 0.75, M 1``."""
        text = "%s eps %.3g" % (METHOD_TITLES[self.method], self.eps)
        if self.method == "spgd":
            text += ", sigma %.3g, M %d" % (self.sigma, self.spgd_steps)
        if self.lm_term is not None:
            text += ", " + self.lm_term.describe()
        return text


def spgd_raw_steps(perturbation, grad, lengths, input_gradient=None):
    """SPGD's raw perturbation ``r`` (Algorithm 1, step 1): M AdvT steps of size eps / M.

    With M = 1 this is exactly AdvT's ``d``. For M > 1 every further step
    takes the gradient at ``x + r`` (``input_gradient(r)``, weights fixed)
    and projects ``r`` back onto the per-review L2 ball of radius eps.
    """
    steps, eps = perturbation.spgd_steps, perturbation.eps
    if steps == 1:
        return perturbation.raw_step(grad, lengths)
    if input_gradient is None:
        raise ValueError("SPGD with M = %d steps needs input_gradient" % steps)
    r = perturbation.raw_step(grad, lengths, eps / steps)
    for _ in range(steps - 1):
        r = adv.project_to_ball(r + perturbation.raw_step(input_gradient(r), lengths, eps / steps), lengths, eps)
    return r


class BatchLayout:
    """Index arrays between the flat (sum L_b, ...) layout and the padded (B, T, ...) one."""

    def __init__(self, lengths, xp):
        self.lengths = np.asarray(lengths)
        self.steps = int(self.lengths.max())
        offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        batch = np.repeat(np.arange(len(lengths)), self.lengths)
        position = np.arange(int(self.lengths.sum())) - np.repeat(offsets, self.lengths)
        self.batch, self.position = xp.asarray(batch), xp.asarray(position)
        self.lengths_xp = xp.asarray(self.lengths)
        self.xp = xp

    def pad(self, flat):
        out = self.xp.zeros((len(self.lengths), self.steps) + flat.shape[1:], dtype=flat.dtype)
        out[self.batch, self.position] = flat
        return out

    def flat(self, padded):
        return padded[self.batch, self.position]


def perturbation_statistics(d, embeddings, layout):
    """Size of a batch's perturbation ``d`` (flat, (sum L_b, D)) against the embeddings ``E[w_t]`` it perturbs.

    ``perturbation_norm``: mean over reviews of ||d_b||; ``perturbed_share``:
    share of tokens with d_t != 0; over the perturbed tokens only,
    ``token_perturbation_norm`` = mean ||d_t|| and ``token_perturbation_ratio``
    = mean ||d_t|| / ||E[w_t]|| (0 when no token is perturbed).
    """
    xp = layout.xp
    token_norms = xp.sqrt((d * d).sum(axis=1))
    per_review = xp.sqrt(xp.bincount(layout.batch, weights=token_norms * token_norms,
                                     minlength=len(layout.lengths)))
    perturbed = token_norms > 0
    embed_norms = xp.sqrt((embeddings * embeddings).sum(axis=1))
    ratio = token_norms / xp.maximum(embed_norms, 1e-12)
    # One transfer to the host for all five figures (a GPU waits once, not five times).
    norm, share, count, norm_sum, ratio_sum = (float(v) for v in chainer.backends.cuda.to_cpu(xp.stack([
        per_review.mean(), perturbed.mean(), perturbed.sum(), xp.where(perturbed, token_norms, 0).sum(),
        xp.where(perturbed, ratio, 0).sum()]).astype(xp.float64)))
    return {"perturbation_norm": norm, "perturbed_share": share,
            "token_perturbation_norm": norm_sum / count if count else 0.0,
            "token_perturbation_ratio": ratio_sum / count if count else 0.0}

