"""SPGD-VAT (ours, beyond both papers): SPGD's projection and sparsity applied to the virtual adversarial step.

The raw step is VAT's direction, taken as SPGD takes AdvT's: M steps of
eps / M along the KL's gradient (the first from the power iterations, each
further one at ``x + r``), each projected back onto the eps-ball; then each
token's step is replaced by its projection on the best of its K neighbour
directions and only the floor((1 - sigma) L_b) largest are kept
(Algorithm 1's steps 2-4). Definition and reasons: docs/design.md. Paper eps
25.0, SPGD's (the norm is carried by a quarter of the words).
"""

from interpretable_adv.methods import stages
from interpretable_adv.methods.registry import Method, Row, register


def perturb(p, batch):
    """Gradient source: the virtual one; raw step: M projected steps; direction map: the best neighbour
    direction per token; sparsifier: keep floor((1 - sigma) L_b) tokens."""
    virtual = stages.with_virtual_gradient(batch, stages.virtual_gradient(p, batch))
    return stages.best_neighbour_sparse(p, virtual, stages.projected_steps(p, virtual))


def describe(p):
    return ", sigma %.3g, M %d, xi %.3g, %d power iteration(s)" % (p.sigma, p.spgd_steps, p.vat_xi,
                                                                    p.power_iterations)


METHOD = register(Method(
    "spgd_vat", "SPGD-VAT", perturb, paper_eps=25.0, needs_neighbors=True, sparse=True, gradient_based=False,
    virtual=True, keys=dict(stages.VIRTUAL_KEYS, **stages.SPGD_KEYS), describe=describe,
    rows=(Row("spgd_vat", "spgd_vat", "Pretrained w/SPGD-VAT (unlabeled reviews)", kind="virtual"),)))
