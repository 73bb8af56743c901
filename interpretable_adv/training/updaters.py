"""The updaters: classifier (Baseline, Pretrained), adversarial (AdvT, iAdvT, SPGD, random perturbation), virtual
adversarial (VAT, iVAT, SPGD-VAT, on labeled and unlabeled reviews), TBPTT (the LM).

Each snapshots what Chainer's own snapshot lacks for a bit-identical resume on
the CPU (:func:`serialize_run_state`), so a killed run continues exactly.

The adversarial update (DESIGN of the paper's ``L = L(x) + lambda L(x + d)``,
``d`` a constant):

1. clean pass on the LSTM inputs ``x`` (embeddings after dropout, cut from the
   graph), backward: parameter gradients of ``L(x)`` and ``g = dL/dx`` in one go;
2. ``d`` from ``g`` by the run's :class:`~interpretable_adv.perturbation.Perturbation`
   (SPGD with M > 1 takes its further gradient steps at the clean pass's
   dropout mask);
3. adversarial pass on ``dropout(E[w]) + d`` (fresh or replayed masks) and one
   backward of ``lambda L(x + d) + sum(x * g)``, which adds the adversarial
   gradients and sends both embedding gradients into the embedding matrix.

It reports ``main/loss`` (clean), ``main/loss_adv``, ``main/accuracy`` (clean),
``main/perturbation_norm`` (mean ||d_b||), ``main/perturbed_share`` (share of
tokens with a non-zero perturbation), and per perturbed token
``main/token_perturbation_norm`` (mean ||d_t||) and ``main/token_perturbation_ratio``
(mean ||d_t|| / ||E[w_t]||, the step relative to the word's own embedding);
with equation 9's LM term, ``main/lm_grad_share`` (mean over reviews of
||beta grad N_l|| / (||beta grad N_l|| + ||grad L||): above 0.5, the LM term
dominates the direction).
"""

import math
import time

import chainer
import chainer.functions as F
import numpy as np
from chainer import training

from interpretable_adv import methods
from interpretable_adv.iterators import review_converter, serialize_random_state
from interpretable_adv.methods import Batch
from interpretable_adv.methods.stages import VAT_REVIEWS
from interpretable_adv.nets import DROPOUT_MASKS
from interpretable_adv.perturbation import (
    BatchLayout,
    Perturbation,
    kl_divergence,
    perturbation_statistics,
    virtual_gradient_function,
)


def serialize_run_state(serializer, optimizer):
    """What a trainer snapshot lacks for a bit-identical resume; call from ``Updater.serialize``.

    NumPy's global random state (Chainer's CPU dropout draws from it) and the
    optimizer's current learning rate (Adam's ``alpha``: Chainer stores the
    moments but not the hyperparameter, which the decay extensions change).
    """
    serialize_random_state(serializer["numpy_random"])
    hyperparam = optimizer.hyperparam
    hyperparam.alpha = serializer("optimizer_alpha", float(hyperparam.alpha))


class ClassifierUpdater(training.updaters.StandardUpdater):
    """One classifier update per batch; subclasses override :meth:`compute_gradients`.

    Reports ``main/tokens_per_sec`` (update step only). ``tokens_seen`` and
    ``reviews_seen`` count what this updater object has trained on (not
    snapshotted; the benchmarks read them).
    """

    def __init__(self, iterator, optimizer, device):
        super().__init__(iterator, optimizer, converter=review_converter, device=device)
        self.tokens_seen = self.reviews_seen = 0
        self.dropout_seed = None   # data-parallel runs: iteration -> this rank's NumPy seed (dropout masks)

    def compute_gradients(self, model_loss, xs, t):
        """Fill the parameter gradients for one batch (``model_loss``: the :class:`ClassifierLoss`)."""
        loss = model_loss(xs, t)
        model_loss.cleargrads()
        loss.backward()

    def update_core(self):
        iterator = self.get_iterator("main")
        optimizer = self.get_optimizer("main")
        batch = iterator.next()
        if self.dropout_seed is not None:
            np.random.seed(self.dropout_seed(self.iteration))
        start = time.time()
        xs, t = self.converter(batch, self.device)
        self.compute_gradients(optimizer.target, xs, t)
        optimizer.update()
        tokens = sum(len(x) for x in xs)
        self.tokens_seen += tokens
        self.reviews_seen += len(xs)
        chainer.report({"tokens_per_sec": tokens / max(time.time() - start, 1e-9)}, optimizer.target)

    def serialize(self, serializer):
        super().serialize(serializer)
        serialize_run_state(serializer, self.get_optimizer("main"))


class AdversarialUpdater(ClassifierUpdater):
    """AdvT, iAdvT or SPGD adversarial training of a :class:`~interpretable_adv.nets.Classifier`.

    ``perturbation``: the run's :class:`~interpretable_adv.perturbation.Perturbation`;
    ``adv_weight``: lambda; ``neighbors``: the
    :class:`~interpretable_adv.neighbors.NeighborTable` (iAdvT, SPGD);
    ``dropout_masks``: ``fresh`` (upstream) or ``shared`` masks for the adversarial pass.
    """

    def __init__(self, iterator, optimizer, device, perturbation, adv_weight=1.0, neighbors=None,
                 dropout_masks="fresh"):
        super().__init__(iterator, optimizer, device)
        if perturbation.needs_neighbors and neighbors is None:
            raise ValueError("%s needs a neighbour table" % perturbation.method)
        if dropout_masks not in DROPOUT_MASKS:
            raise ValueError("dropout_masks must be one of %s, got %r" % (", ".join(DROPOUT_MASKS), dropout_masks))
        self.perturbation, self.adv_weight, self.neighbors = perturbation, adv_weight, neighbors
        self.shared_masks = dropout_masks == "shared"

    @property
    def eps(self):
        return self.perturbation.eps

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

            def input_gradient(r):   # SPGD's further steps: dL/dx at x + r, weights and mask fixed
                return layout.pad(_input_gradient(clf, dropped.array + layout.flat(r), layout, t))

            d = self.perturbation(Batch(grad, clf.xp.concatenate(xs), layout, labels=t, embeddings=clf.embed.W.array,
                                        neighbors=self.neighbors, input_gradient=input_gradient))
            logits_adv = clf.logits_from_inputs(clf.dropout_embeddings(embedded) + d, lengths)
            loss_adv = F.softmax_cross_entropy(logits_adv, t)
            (self.adv_weight * loss_adv + F.sum(dropped * grad)).backward()
        finally:
            masks.fresh()
        report = dict(perturbation_statistics(d, embedded.array, layout), loss=loss, loss_adv=loss_adv,
                      accuracy=F.accuracy(logits, t))
        if self.perturbation.lm_term is not None:   # how much of eq. 9's direction the LM term makes
            report["lm_grad_share"] = float(self.perturbation.lm_term.last_share.mean())
        chainer.report(report, model_loss)


class VirtualAdversarialUpdater(ClassifierUpdater):
    """VAT, iVAT or SPGD-VAT: ``L = L_CE(labeled) + lambda KL(p(.|x; theta_hat) || p(.|x + r_vadv; theta))``.

    Miyato et al. 2017's virtual adversarial loss: the clean prediction
    ``p(.|x; theta_hat)`` is a constant (no gradient through it), and
    ``r_vadv`` is the run's :class:`~interpretable_adv.perturbation.Perturbation`
    of a :class:`~interpretable_adv.methods.Batch` whose ``virtual_gradient`` is
    the KL's input gradient. Per update:

    1. the labeled batch (iterator ``main``): cross-entropy, backward;
    2. the virtual reviews, ``reviews='both'`` (Miyato et al.) the labeled batch
       and the unlabeled one (iterator ``unlabeled``), ``'unlabeled'`` (Sato et
       al.'s code) the unlabeled one only: a clean pass on the dropped-out
       embeddings ``x`` (no backward) gives ``log p_hat``, its dropout masks
       recorded; the power iterations (and SPGD-VAT's further steps) replay
       those masks with the weights fixed, so the KL is a function of ``d`` alone
       (0 at ``d = 0``);
    3. the adversarial pass on ``dropout(E[w]) + r_vadv`` (fresh masks, or the
       recorded ones with ``dropout_masks='shared'``) and one backward of
       ``lambda KL``, which adds its gradients to the parameters and the
       embedding matrix.

    Reports ``main/loss`` and ``main/accuracy`` (labeled, clean),
    ``main/loss_adv`` (the KL term) and the perturbation's sizes as the
    :class:`AdversarialUpdater` does. Labeled tokens only count in
    ``tokens_per_sec`` and ``tokens_seen``.
    """

    def __init__(self, iterators, optimizer, device, perturbation, adv_weight=1.0, neighbors=None,
                 dropout_masks="fresh", reviews="both"):
        super().__init__(iterators, optimizer, device)
        if not perturbation.recipe.virtual:
            raise ValueError("%s is not a virtual adversarial method" % perturbation.method)
        if perturbation.needs_neighbors and neighbors is None:
            raise ValueError("%s needs a neighbour table" % perturbation.method)
        if dropout_masks not in DROPOUT_MASKS or reviews not in VAT_REVIEWS:
            raise ValueError("dropout_masks must be one of %s and reviews one of %s, got %r, %r"
                             % (", ".join(DROPOUT_MASKS), ", ".join(VAT_REVIEWS), dropout_masks, reviews))
        self.perturbation, self.adv_weight, self.neighbors = perturbation, adv_weight, neighbors
        self.shared_masks, self.reviews = dropout_masks == "shared", reviews

    @property
    def eps(self):
        return self.perturbation.eps

    def compute_gradients(self, model_loss, xs, t):
        clf = model_loss.predictor
        model_loss.cleargrads()
        model_loss(xs, t).backward()   # reports main/loss and main/accuracy
        unlabeled, _ = self.converter(self.get_iterator("unlabeled").next(), self.device)
        reviews = list(xs) + list(unlabeled) if self.reviews == "both" else list(unlabeled)
        lengths = [len(x) for x in reviews]
        layout = BatchLayout(lengths, clf.xp)
        masks = clf.dropout_masks
        masks.record()
        try:
            embedded = clf.embed_reviews(reviews)
            clean = clf.dropout_embeddings(embedded).array

            def logits_of(inputs):
                return clf.logits_from_inputs(inputs, lengths)

            log_p_hat, virtual_gradient = virtual_gradient_function(logits_of, clean, layout)
            masks.replay()
            d = self.perturbation(Batch(None, clf.xp.concatenate(reviews), layout, embeddings=clf.embed.W.array,
                                        neighbors=self.neighbors, virtual_gradient=virtual_gradient))
            if not self.shared_masks:
                masks.fresh()
            loss_adv = kl_divergence(log_p_hat, logits_of(clf.dropout_embeddings(embedded) + d))
            (self.adv_weight * loss_adv).backward()
        finally:
            masks.fresh()
        chainer.report(dict(perturbation_statistics(d, embedded.array, layout), loss_adv=loss_adv), model_loss)


def _input_gradient(clf, x_flat, layout, t):
    """dL/dx at ``x_flat`` with the current weights, without touching parameter gradients."""
    x = chainer.Variable(x_flat)
    loss = F.softmax_cross_entropy(clf.logits_from_inputs(x, layout.lengths.tolist()), t)
    (grad,) = chainer.grad([loss], [x])
    return grad.array


def make_updater(config, iterator, optimizer, device, neighbors, lm_term=None, unlabeled=None):
    """The updater for ``config['method']``: plain, adversarial (``lm_term``: eq. 9) or virtual adversarial
    training (``unlabeled``: the iterator over the unlabeled pool)."""
    method = methods.get(config["method"])
    if not method.adversarial:
        return ClassifierUpdater(iterator, optimizer, device)
    if method.virtual:
        return VirtualAdversarialUpdater({"main": iterator, "unlabeled": unlabeled}, optimizer, device,
                                         Perturbation.from_config(config), adv_weight=config["adv_weight"],
                                         neighbors=neighbors, dropout_masks=config["dropout_masks"],
                                         reviews=config["vat_reviews"])
    return AdversarialUpdater(iterator, optimizer, device, Perturbation.from_config(config, lm_term=lm_term),
                              adv_weight=config["adv_weight"], neighbors=neighbors,
                              dropout_masks=config["dropout_masks"])


class TBPTTUpdater(training.updaters.StandardUpdater):
    """One truncated-BPTT step per update; the LSTM state is carried and detached.

    The carried state and NumPy's global random state are part of the
    snapshot, so a resumed run continues exactly where it stopped. The state
    is reset when the streams wrap around at the end of an epoch.
    """

    def __init__(self, iterator, optimizer, device):
        super().__init__(iterator, optimizer, device=device)
        self.state = None
        self.dropout_seed = None   # data-parallel runs: iteration -> this rank's NumPy seed (dropout masks)
        self.rank = 0              # a snapshot holds rank 0's carried state; other ranks restart theirs at zero

    def update_core(self):
        iterator = self.get_iterator("main")
        optimizer = self.get_optimizer("main")
        model = optimizer.target
        batch = iterator.next()   # (x, t), or (x, t, labels of t) for a class-conditional LM
        if self.dropout_seed is not None:
            np.random.seed(self.dropout_seed(self.iteration))
        start = time.time()
        x, t, *labels = (self.device.send(a) for a in batch)
        loss, state = model(x, t, self.state, *labels)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        self.state = None if iterator.is_new_epoch else tuple(chainer.Variable(s.array) for s in state)
        loss_value = float(loss.array)
        chainer.report({"loss": loss_value, "perplexity": math.exp(min(loss_value, 50.0)),
                        "tokens_per_sec": x.size / max(time.time() - start, 1e-9)}, model)

    def serialize(self, serializer):
        super().serialize(serializer)
        serialize_run_state(serializer, self.get_optimizer("main"))
        loading = isinstance(serializer, chainer.serializer.Deserializer)
        has_state = serializer("has_state", self.state is not None)
        hx = cx = None
        if not loading and self.state is not None:
            hx, cx = (chainer.backends.cuda.to_cpu(s.array) for s in self.state)
        if has_state:
            hx, cx = serializer("hx", hx), serializer("cx", cx)
        if loading:
            self.state = (tuple(chainer.Variable(self.device.send(np.asarray(a))) for a in (hx, cx))
                          if has_state and self.rank == 0 else None)
