"""iVAT (Sato et al. 2018): the virtual adversarial gradient expressed in each word's K neighbour directions.

The probe ``u_t = sum_k a_tk u_tk`` lies in the neighbour span; each power
iteration maps the KL's gradient back into it (its coefficients on the K
directions), and the final direction is iAdvT's map of the virtual gradient
(:func:`~interpretable_adv.methods.stages.neighbour_subspace`, eq. 6's weights
normalised and scaled to eps). ``ivat_start``: ``random`` (default) draws
``a ~ N(0, I)``, the power iteration's random start as in VAT; ``uniform`` is
Sato et al.'s code, ``a = 1/K`` (deterministic: every occurrence of a word
starts from the mean of its neighbour directions). Paper eps 15.0 (Sato et
al.'s iVAT).
"""

from interpretable_adv.keys import Key
from interpretable_adv.methods import stages
from interpretable_adv.methods.registry import Method, Row, register

IVAT_START = Key("str", choices=("random", "uniform"), default="random",
                 help="iVAT probe's start in the neighbour span: random a ~ N(0, I) (as VAT) or uniform 1/K "
                      "(Sato et al.'s code)")


def perturb(p, batch):
    """Gradient source: the virtual one, probed in the neighbour span; direction map: the neighbour subspace."""
    xp = batch.layout.xp
    shape = (len(batch.words), batch.neighbors.k)
    if p.ivat_start == "uniform":
        coefficients = xp.full(shape, 1.0 / shape[1], dtype=batch.embeddings.dtype)
    else:
        coefficients = xp.random.standard_normal(shape).astype(batch.embeddings.dtype, copy=False)
    start, directions = stages.neighbour_span(batch, coefficients)

    def into_span(g):   # the gradient's coefficients on the K directions, mapped back
        return xp.einsum("nk,nkd->nd", xp.einsum("nkd,nd->nk", directions, g), directions)

    virtual = stages.with_virtual_gradient(batch, stages.virtual_gradient(p, batch, start, into_span))
    return stages.neighbour_subspace(p, virtual)


def describe(p):
    return ", xi %.3g, %d power iteration(s), %s start" % (p.vat_xi, p.power_iterations, p.ivat_start)


METHOD = register(Method(
    "ivat", "iVAT", perturb, paper_eps=15.0, needs_neighbors=True, gradient_based=False, virtual=True,
    keys=dict(stages.VIRTUAL_KEYS, iadvt_weights=stages.IADVT_WEIGHTS, ivat_start=IVAT_START), describe=describe,
    rows=(Row("ivat", "ivat", "Pretrained w/iVAT (unlabeled reviews)", kind="virtual"),)))
