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
* direction map and sparsifier: :func:`neighbour_subspace` (iAdvT, Sato et
  al. eq. 6, with its normalisation) and :func:`best_neighbour_sparse` (SPGD,
  Algorithm 1: per-token best neighbour direction, keep floor((1 - sigma) L_b)
  tokens).
"""

from interpretable_adv import adversarial as adv
from interpretable_adv.keys import Key

# The key of :func:`one_step`'s normalisation, read by every recipe that scales a direction to eps.
PERTURBATION_NORM = Key("str", choices=adv.NORMS, default="upstream",
                        help="exact: ||d_b|| = eps; upstream: g / sqrt(1e-6 + ||g||^2) (Sato et al.'s code)")


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
