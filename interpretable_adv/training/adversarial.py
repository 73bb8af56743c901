"""Adversarial training updater: ``L = L(x) + lambda L(x + d)`` with ``d`` a constant (DESIGN section 5).

One update:

1. clean pass on the LSTM inputs ``x`` (embeddings after dropout, cut from the
   graph), backward: parameter gradients of ``L(x)`` and ``g = dL/dx`` in one go;
2. ``d`` from ``g`` for ``advt`` / ``iadvt`` / ``spgd`` (SPGD with M > 1 takes
   M - 1 more gradient steps of size eps / M, each projected onto the eps-ball,
   at the clean pass's dropout mask);
3. adversarial pass on ``dropout(E[w]) + d`` (fresh or replayed masks) and one
   backward of ``lambda L(x + d) + sum(x * g)``, which adds the adversarial
   gradients and sends both embedding gradients into the embedding matrix.

Reports ``main/loss`` (clean), ``main/loss_adv``, ``main/accuracy`` (clean),
``main/perturbation_norm`` (mean ||d_b||), ``main/perturbed_share`` (share of
tokens with a non-zero perturbation), and per perturbed token
``main/token_perturbation_norm`` (mean ||d_t||) and ``main/token_perturbation_ratio``
(mean ||d_t|| / ||E[w_t]||, the step relative to the word's own embedding).
"""

import chainer
import chainer.functions as F
import numpy as np

from interpretable_adv import adversarial as adv
from interpretable_adv.training.classifier import ClassifierUpdater

METHODS = ("advt", "iadvt", "spgd")
DEFAULT_EPS = {"advt": 5.0, "iadvt": 15.0, "spgd": 25.0}


def resolved_eps(config):
    """epsilon of a run: ``--eps`` if given, else the paper's value for the method times ``eps_scale``.

    ``eps_scale`` is 1 in the ``paper`` preset; the reduced presets multiply
    all three of the paper's values by one scale (keeping AdvT : iAdvT : SPGD =
    5 : 15 : 25) chosen by an eps sweep on dev (``experiments/sweep_eps.sh``).
    """
    if config.get("eps") is not None:
        return float(config["eps"])
    return DEFAULT_EPS[config["method"]] * float(config.get("eps_scale", 1.0))


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

    def pad(self, flat, fill=0):
        out = self.xp.full((len(self.lengths), self.steps) + flat.shape[1:], fill, dtype=flat.dtype)
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
    count = int(perturbed.sum())
    embed_norms = xp.sqrt((embeddings * embeddings).sum(axis=1))
    ratio = token_norms / xp.maximum(embed_norms, 1e-12)
    return {"perturbation_norm": float(per_review.mean()),
            "perturbed_share": float(perturbed.mean()),
            "token_perturbation_norm": float(token_norms[perturbed].sum()) / count if count else 0.0,
            "token_perturbation_ratio": float(ratio[perturbed].sum()) / count if count else 0.0}


class AdversarialUpdater(ClassifierUpdater):
    """AdvT, iAdvT or SPGD adversarial training of a :class:`~interpretable_adv.nets.Classifier`."""

    def __init__(self, iterator, optimizer, device, method, eps=None, adv_weight=1.0, neighbors=None,
                 sigma=0.75, spgd_steps=1, norm="exact", iadvt_weights="token", towards_only=False,
                 spgd_rank="raw", dropout_masks="fresh"):
        super().__init__(iterator, optimizer, device)
        if method not in METHODS:
            raise ValueError("method must be one of %s, got %r" % (METHODS, method))
        if method != "advt" and neighbors is None:
            raise ValueError("%s needs a neighbour table" % method)
        if spgd_steps < 1:
            raise ValueError("M (--spgd-steps) must be >= 1")
        if dropout_masks not in ("fresh", "shared"):
            raise ValueError("dropout_masks must be 'fresh' or 'shared'")
        self.method = method
        self.eps = DEFAULT_EPS[method] if eps is None else eps
        self.adv_weight = adv_weight
        self.neighbors = neighbors
        self.sigma, self.spgd_steps = sigma, spgd_steps
        self.norm, self.iadvt_weights = norm, iadvt_weights
        self.towards_only, self.spgd_rank = towards_only, spgd_rank
        self.shared_masks = dropout_masks == "shared"

    def compute_gradients(self, model_loss, xs, t):
        clf = model_loss.predictor
        lengths = [len(x) for x in xs]
        layout = BatchLayout(lengths, clf.xp)
        masks = clf.dropout_masks
        if self.shared_masks:
            masks.record()
        try:
            embedded = clf.embed_reviews(xs)
            dropped = clf.dropout_embeddings(embedded)
            clean_input = chainer.Variable(dropped.array)
            logits = clf.logits_from_inputs(clean_input, lengths)
            loss = F.softmax_cross_entropy(logits, t)
            model_loss.cleargrads()
            loss.backward()
            grad = clean_input.grad
            if self.shared_masks:
                masks.replay()
            d = self.perturbation(clf, xs, t, layout, dropped.array, grad)
            logits_adv = clf.logits_from_inputs(clf.dropout_embeddings(embedded) + d, lengths)
            loss_adv = F.softmax_cross_entropy(logits_adv, t)
            (self.adv_weight * loss_adv + F.sum(dropped * grad)).backward()
        finally:
            masks.fresh()
        chainer.report(dict(perturbation_statistics(d, embedded.array, layout), loss=loss, loss_adv=loss_adv,
                            accuracy=F.accuracy(logits, t)), model_loss)

    def perturbation(self, clf, xs, t, layout, x_flat, grad_flat):
        """``d`` (flat, constant) for this batch from the clean gradient."""
        lengths = layout.lengths_xp
        grad = layout.pad(grad_flat)
        if self.method == "advt":
            return layout.flat(adv.advt_perturbation(grad, lengths, self.eps, self.norm))
        words = layout.pad(clf.xp.concatenate(xs))
        embeddings = clf.embed.W.array

        def directions_of(word_ids):
            return adv.neighbor_directions(embeddings, word_ids, self.neighbors.lookup(word_ids))

        if self.method == "iadvt":
            return layout.flat(adv.iadvt_perturbation(grad, directions_of(words), lengths, self.eps,
                                                      self.iadvt_weights, self.norm))
        r = adv.advt_perturbation(grad, lengths, self.eps / self.spgd_steps if self.spgd_steps > 1 else self.eps,
                                  self.norm)
        for _ in range(self.spgd_steps - 1):
            step_grad = layout.pad(self._input_gradient(clf, x_flat + layout.flat(r), layout, t))
            r = adv.project_to_ball(r + adv.advt_perturbation(step_grad, lengths, self.eps / self.spgd_steps,
                                                              self.norm), lengths, self.eps)
        if self.spgd_rank == "raw":   # the mask needs only r: neighbours only for the kept words
            return layout.flat(adv.spgd_from_raw_kept_only(
                r, lengths, self.sigma, lambda b, p: directions_of(words[b, p]), self.towards_only))
        return layout.flat(adv.spgd_from_raw(r, directions_of(words), lengths, self.sigma, self.towards_only,
                                             self.spgd_rank))

    def _input_gradient(self, clf, x_flat, layout, t):
        """dL/dx at ``x_flat`` with the current weights, without touching parameter gradients."""
        x = chainer.Variable(x_flat)
        loss = F.softmax_cross_entropy(clf.logits_from_inputs(x, layout.lengths.tolist()), t)
        (grad,) = chainer.grad([loss], [x])
        return grad.array
