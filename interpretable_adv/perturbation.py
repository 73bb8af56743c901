"""A run's perturbation: one method's recipe (:mod:`interpretable_adv.methods`) with the run's settings.

:class:`Perturbation` holds the settings every recipe reads (epsilon and how
it is resolved from the presets, the normalisation, iAdvT's weights, SPGD's
sigma, towards-only clamp, ranking and M steps, equation 9's LM term) and
calls the method's recipe on a :class:`~interpretable_adv.methods.Batch`.
With an :class:`~interpretable_adv.lm_term.LMTerm` (``--lm-term``, beyond the
paper) a gradient-based method starts from equation 9's combined gradient
instead of the classifier's (and SPGD's further steps too).

Training (the adversarial updater), Table 1, ``iadv interpret`` and the
figures all build their perturbations with ``Perturbation.from_config(config)``.
"""

import dataclasses

import chainer
import chainer.functions as F
import numpy as np

from interpretable_adv import adversarial as adv
from interpretable_adv import methods


class Perturbation:
    """The perturbation of one method with its settings; call it with a :class:`~interpretable_adv.methods.Batch`.

    ``eps``: epsilon; ``settings``: the recipes' own keys
    (:func:`interpretable_adv.methods.setting_keys`: ``perturbation_norm``,
    iAdvT's ``iadvt_weights``, SPGD's ``sigma``, ``spgd_steps`` (M),
    ``spgd_rank``, ``towards_only``, ...), each checked by its Key and
    defaulting to the Key's default; a setting the method does not read is
    kept and ignored (a run's configuration holds every method's keys).
    They read as attributes (``p.sigma``). ``lm_term``: an
    :class:`~interpretable_adv.lm_term.LMTerm` (equation 9) or None.
    """

    def __init__(self, method, eps, lm_term=None, **settings):
        recipe = methods.get(method)
        if not recipe.adversarial:
            raise ValueError("method must be one of %s, got %r" % (", ".join(methods.names(adversarial=True)), method))
        if lm_term is not None and not recipe.gradient_based:
            raise ValueError("%s does not follow a gradient; equation 9's LM term cannot modify it" % method)
        keys = methods.setting_keys()
        unknown = sorted(set(settings) - set(keys))
        if unknown:
            raise TypeError("unknown perturbation setting(s) %s (known: %s)" % (", ".join(unknown), ", ".join(keys)))
        self.settings = {}
        for name, key in keys.items():
            try:
                self.settings[name] = key.check(settings.get(name, key.default))
            except ValueError as exc:
                raise ValueError("%s %s" % (name, exc)) from None
        self.recipe, self.method, self.eps, self.lm_term = recipe, method, float(eps), lm_term

    def __getattr__(self, name):
        settings = self.__dict__.get("settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))

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
        eps = config["eps"]
        if eps is None:
            eps = methods.get(method).paper_eps * float(config["eps_scale"])
        settings = {name: config[name] for name in methods.setting_keys() if name in config}
        settings.update(overrides)
        return cls(method, settings.pop("eps", eps), **settings)

    @property
    def needs_neighbors(self):
        return self.recipe.needs_neighbors

    def raw_step(self, grad, lengths, eps=None):
        """AdvT's ``r`` from the gradient (B, T, D) with this perturbation's normalisation."""
        return adv.advt_perturbation(grad, lengths, self.eps if eps is None else eps, self.perturbation_norm)

    def __call__(self, batch):
        """``d`` (N, D) for a :class:`~interpretable_adv.methods.Batch` of N = sum_b L_b tokens.

        ``batch.labels`` are needed with an LM term (eq. 9's ``y``),
        ``batch.embeddings`` and ``batch.neighbors`` by the methods that use
        neighbour directions, ``batch.input_gradient`` by SPGD with M > 1.
        """
        if self.lm_term is not None:
            batch = self._with_lm_term(batch)
        return self.recipe.perturb(self, batch)

    def _with_lm_term(self, batch):
        """Equation 9: the gradient (and SPGD's further gradients at ``x + r``) minus beta grad N_l."""
        if batch.labels is None:
            raise ValueError("a perturbation with an LM term needs the reviews' labels")
        term, words, layout, labels = self.lm_term, batch.words, batch.layout, batch.labels
        embeddings = batch.embeddings
        combined = term.combine(batch.grad, words, layout, labels, embeddings)
        if batch.input_gradient is None:
            return dataclasses.replace(batch, grad=combined)
        input_gradient = batch.input_gradient

        def combined_gradient(r):   # r padded (B, T, D); the LM reads the same r
            flat_r = layout.flat(r)
            return layout.pad(layout.flat(input_gradient(r))
                              - term.nll_gradient(words, layout, labels, embeddings, shift=flat_r))

        return dataclasses.replace(batch, grad=combined, input_gradient=combined_gradient)

    def describe(self):
        """A short line for logs and figures, e.g. ``SPGD eps 0.75, sigma 0.75, M 1``."""
        text = "%s eps %.3g" % (self.recipe.title, self.eps)
        if self.recipe.describe is not None:
            text += self.recipe.describe(self)
        if self.lm_term is not None:
            text += ", " + self.lm_term.describe()
        return text


def kl_divergence(log_p_hat, logits):
    """``mean_b KL(p_hat_b || softmax(logits_b))``, Miyato et al. 2017's virtual adversarial loss.

    ``log_p_hat`` (B, C): the clean prediction's log-probabilities, a constant
    array (no gradient reaches the clean pass: Miyato's ``theta_hat``).
    """
    xp = chainer.backend.get_array_module(log_p_hat)
    return F.sum(xp.exp(log_p_hat) * (log_p_hat - F.log_softmax(logits))) / logits.shape[0]


def virtual_gradient_function(logits_of, x_flat, layout):
    """The clean log-prediction ``log p(.|x)`` (B, C) and ``r -> grad_r KL(p(.|x) || p(.|x + r))`` (padded).

    ``logits_of(inputs)`` maps flat LSTM inputs (N, D) to logits with the
    weights (and the dropout masks) fixed; ``x_flat`` (N, D) are the clean
    inputs. The gradient is taken with respect to ``r`` only (no parameter
    gradient is filled): what the VAT family's power iterations and SPGD-VAT's
    further steps call as ``Batch.virtual_gradient``.
    """
    with chainer.no_backprop_mode():
        log_p_hat = F.log_softmax(logits_of(x_flat)).array

    def gradient(r):
        x = chainer.Variable(x_flat + layout.flat(r))
        (grad,) = chainer.grad([kl_divergence(log_p_hat, logits_of(x))], [x])
        return layout.pad(grad.array)

    return log_p_hat, gradient


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

