"""The stages a method's recipe is composed of, each over the equations of :mod:`interpretable_adv.adversarial`.

Every stage takes the run's :class:`~interpretable_adv.perturbation.Perturbation`
``p`` (its settings: eps, normalisation, iAdvT's weights, SPGD's sigma, M,
ranking, towards-only clamp) and a :class:`~interpretable_adv.methods.registry.Batch`.

* gradient source: the label loss's input gradient is ``batch.grad`` (equation
  9's LM term, when a run has one, has already been mixed into it and into
  ``batch.input_gradient``); :func:`gaussian_source` is a random one;
* raw step: :func:`one_step` (Miyato et al. eq. 5: ``eps g_b / ||g_b||``) or
  :func:`projected_steps` (SPGD: M steps of eps / M, each projected onto the
  eps-ball);
* the virtual gradient (VAT family, Miyato et al. 2017): :func:`virtual_gradient`
  runs the power iterations on ``KL(p(.|x) || p(.|x + d))`` from a random
  probe (:func:`random_probe`, or one in the neighbour span for iVAT) and
  stands in for the label gradient of the stages below;
* direction map and sparsifier: :func:`neighbour_subspace` (iAdvT, Sato et
  al. eq. 6, with its normalisation) and :func:`best_neighbour_sparse` (SPGD,
  Algorithm 1: per-token best neighbour direction, keep floor((1 - sigma) L_b)
  tokens).
"""

import dataclasses

from interpretable_adv import adversarial as adv
from interpretable_adv.keys import Key

# The key of :func:`one_step`'s normalisation, read by every recipe that scales a direction to eps.
PERTURBATION_NORM = Key("str", choices=adv.NORMS, default="upstream",
                        help="exact: ||d_b|| = eps; upstream: g / sqrt(1e-6 + ||g||^2) (Sato et al.'s code)")


# The keys of the neighbour-subspace map (iAdvT, iVAT) and of SPGD's steps and sparsifier (SPGD, SPGD-VAT).
IADVT_WEIGHTS = Key("str", choices=adv.IADVT_WEIGHTS, default="token",
                    help="token (Sato et al.'s code) or review (their eq. 6) normalisation of the neighbour weights")
SPGD_KEYS = {
    "sigma": Key("float", low=0.0, high=1.0, high_open=True, default=0.75,
                 help="sigma, SPGD sparsity: keep floor((1 - sigma) L) words of each review"),
    "spgd_steps": Key("int", low=1, default=1, help="M, SPGD gradient steps of size eps / M"),
    "spgd_rank": Key("str", choices=adv.SPGD_RANKS, default="raw",
                     help="raw (Algorithm 1) or projected norms rank the tokens SPGD keeps"),
    "towards_only": Key("bool", default=False,
                        help="SPGD: clamp a negative projection coefficient to 0 (never move away)"),
}

# The keys of the virtual gradient's power iterations, shared by every recipe of the VAT family.
VAT_XI = Key("float", low=0.0, low_open=True, default=0.1,
             help="xi, the norm of the VAT probe d at which the KL's gradient is taken (Miyato et al.: 0.1)")
POWER_ITERATIONS = Key("int", low=1, default=1, help="power iterations of the VAT probe (Miyato et al.: 1)")
VAT_PROBE = Key("str", choices=("sequence", "token"), default="sequence",
                help="VAT probe normalisation: sequence (||d_b|| = xi per review, Miyato et al.) or token "
                     "(||d_t|| = xi per token, Sato et al.'s code)")
# Which reviews the virtual adversarial term covers: the labeled batch and the unlabeled one (Miyato et al. 2017),
# or the unlabeled one only (Sato et al.'s code); read by the training loop, declared with the family.
VAT_REVIEWS = ("both", "unlabeled")
VIRTUAL_KEYS = {
    "perturbation_norm": PERTURBATION_NORM, "vat_xi": VAT_XI, "power_iterations": POWER_ITERATIONS,
    "vat_probe": VAT_PROBE,
    "unlabeled_batchsize": Key("int", low=1, default=96,
                               help="unlabeled reviews per update for the VAT family (Sato et al.'s code: 96)"),
    "vat_reviews": Key("str", choices=VAT_REVIEWS, default="both",
                       help="reviews the VAT term covers: both (labeled and unlabeled batch, Miyato et al.) or "
                            "unlabeled (Sato et al.'s code)"),
}


def random_probe(batch):
    """A random direction ``u`` (N, D), independent standard normal entries (the power iteration's start)."""
    xp = batch.layout.xp
    return xp.random.standard_normal((len(batch.words), batch.embeddings.shape[1])).astype(
        batch.embeddings.dtype, copy=False)


def scale_probe(p, batch, u):
    """``xi u / ||u||``, per review (``vat_probe`` sequence) or per token (token)."""
    layout = batch.layout
    if p.vat_probe == "token":
        return adv.scale_tokens_to_norm(u, p.vat_xi)
    return adv.scale_flat_to_norm(u, layout.batch, len(layout.lengths), p.vat_xi)


def virtual_gradient(p, batch, start=None, restrict=None):
    """``g`` (N, D): the gradient of ``KL(p(.|x) || p(.|x + d))`` at ``d = xi u / ||u||`` (Miyato et al. 2017).

    ``u`` starts at ``start`` (N, D) (default :func:`random_probe`); each of
    the ``power_iterations`` replaces it by the gradient at the current probe
    (``batch.virtual_gradient``, the clean prediction and the weights fixed), so
    ``g`` tends to the KL's direction of largest curvature at ``x``.
    ``restrict(g)`` maps each new ``u`` into a subspace first (iVAT: the
    neighbour span).
    """
    layout = batch.layout
    u = random_probe(batch) if start is None else start
    for _ in range(p.power_iterations):
        g = layout.flat(batch.virtual_gradient(layout.pad(scale_probe(p, batch, u))))
        u = g if restrict is None else restrict(g)
    return g


def with_virtual_gradient(batch, g):
    """The batch as the label-gradient stages read it: ``grad`` = the virtual gradient ``g`` and, for SPGD's
    further steps, ``input_gradient`` = the KL's gradient at ``x + r``."""
    return dataclasses.replace(batch, grad=g, input_gradient=batch.virtual_gradient)


def one_step(p, batch, source=None):
    """``d`` (N, D) = eps g_b / ||g_b|| per review, from ``source`` (N, D) or the label gradient."""
    layout = batch.layout
    return layout.flat(p.raw_step(layout.pad(batch.grad if source is None else source), layout.lengths_xp))


def projected_steps(p, batch):
    """SPGD's raw perturbation ``r`` (B, T, D) (Algorithm 1, step 1): M AdvT steps of size eps / M.

    With M = 1 this is exactly AdvT's ``d``. For M > 1 every further step
    takes the gradient at ``x + r`` (``batch.input_gradient(r)``, weights
    fixed) and projects ``r`` back onto the per-review L2 ball of radius eps.
    """
    layout, steps, eps = batch.layout, p.spgd_steps, p.eps
    grad, lengths = layout.pad(batch.grad), layout.lengths_xp
    if steps == 1:
        return p.raw_step(grad, lengths)
    if batch.input_gradient is None:
        raise ValueError("SPGD with M = %d steps needs input_gradient" % steps)
    r = p.raw_step(grad, lengths, eps / steps)
    for _ in range(steps - 1):
        r = adv.project_to_ball(r + p.raw_step(batch.input_gradient(r), lengths, eps / steps), lengths, eps)
    return r


def neighbour_span(batch, coefficients):
    """``sum_k a_tk u_tk`` (N, D): per-token coefficients (N, K) on each word's K neighbour directions."""
    directions = adv.neighbor_directions(batch.embeddings, batch.words, batch.neighbors.lookup(batch.words))
    return (coefficients[:, :, None] * directions).sum(axis=1), directions


def neighbour_subspace(p, batch):
    """iAdvT's ``d`` (N, D): the gradient expressed in each word's K neighbour directions, scaled to eps.

    Runs on the flat tokens (no (B, T, K, D) tensor).
    """
    layout = batch.layout
    return adv.iadvt_perturbation_flat(batch.grad, batch.embeddings, batch.words, batch.neighbors.lookup(batch.words),
                                       layout.batch, len(layout.lengths), p.eps, p.iadvt_weights, p.perturbation_norm)


def best_neighbour_sparse(p, batch, r):
    """SPGD's ``d`` (N, D) from its raw ``r`` (B, T, D): per-token projection onto the best neighbour
    direction, keeping the floor((1 - sigma) L_b) tokens ranked by ``p.spgd_rank``."""
    layout = batch.layout
    words, lengths = layout.pad(batch.words), layout.lengths_xp

    def directions_of(word_ids):
        return adv.neighbor_directions(batch.embeddings, word_ids, batch.neighbors.lookup(word_ids))

    if p.spgd_rank == "raw":   # the mask needs only r: neighbour directions for the kept words only
        d = adv.spgd_from_raw_kept_only(r, lengths, p.sigma, lambda b, q: directions_of(words[b, q]), p.towards_only)
    else:
        d = adv.spgd_from_raw(r, directions_of(words), lengths, p.sigma, p.towards_only, p.spgd_rank)
    return layout.flat(d)
