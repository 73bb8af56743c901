"""SPGD (Barham & Feizi 2019, Algorithm 1): M projected steps, the best neighbour direction per token, sparsity."""

from interpretable_adv.methods import stages
from interpretable_adv.methods.registry import Method, Row, register


def perturb(p, batch):
    """Gradient source: the label loss; raw step: M steps of eps / M onto the eps-ball; direction map: the
    best neighbour direction per token; sparsifier: keep floor((1 - sigma) L_b) tokens."""
    return stages.best_neighbour_sparse(p, batch, stages.projected_steps(p, batch))


def describe(p):
    return ", sigma %.3g, M %d" % (p.sigma, p.spgd_steps)


METHOD = register(Method(
    "spgd", "SPGD", perturb, paper_eps=25.0, needs_neighbors=True, sparse=True,
    keys=dict({"perturbation_norm": stages.PERTURBATION_NORM}, **stages.SPGD_KEYS),
    describe=describe, paper_table1=119.02,
    rows=(Row("spgd", "spgd", "Pretrained w/SPGD (1 iter, 75% sparsity)", paper=93.54),
          Row("spgd_lm", "spgd", "Pretrained w/SPGD + LM term (eq. 9)", lm_term=True, kind="lm"))))
