"""SPGD (Barham & Feizi 2019, Algorithm 1): M projected steps, the best neighbour direction per token, sparsity."""

from interpretable_adv.adversarial import SPGD_RANKS
from interpretable_adv.keys import Key
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
    keys={"perturbation_norm": stages.PERTURBATION_NORM,
          "sigma": Key("float", low=0.0, high=1.0, high_open=True, default=0.75,
                       help="sigma, SPGD sparsity: keep floor((1 - sigma) L) words of each review"),
          "spgd_steps": Key("int", low=1, default=1, help="M, SPGD gradient steps of size eps / M"),
          "spgd_rank": Key("str", choices=SPGD_RANKS, default="raw",
                           help="raw (Algorithm 1) or projected norms rank the tokens SPGD keeps"),
          "towards_only": Key("bool", default=False,
                              help="SPGD: clamp a negative projection coefficient to 0 (never move away)")},
    describe=describe, paper_table1=119.02,
    rows=(Row("spgd", "spgd", "Pretrained w/SPGD (1 iter, 75% sparsity)", paper=93.54),
          Row("spgd_lm", "spgd", "Pretrained w/SPGD + LM term (eq. 9)", lm_term=True, kind="lm"))))
