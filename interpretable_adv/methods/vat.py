"""VAT (Miyato et al. 2017): the virtual adversarial direction ``eps g / ||g||`` of ``KL(p(.|x) || p(.|x + d))``.

``g`` is the KL's gradient at ``d = xi u / ||u||`` after ``power_iterations``
power iterations from a random ``u`` (:func:`~interpretable_adv.methods.stages.virtual_gradient`);
no label is read, so training adds ``lambda KL(p(.|x) || p(.|x + r_vadv))`` on
unlabeled reviews (and, by default, the labeled ones: see
:class:`~interpretable_adv.training.updaters.VirtualAdversarialUpdater`).
Paper eps 5.0, as Miyato et al.'s and Sato et al.'s VAT.
"""

from interpretable_adv.methods import stages
from interpretable_adv.methods.registry import Method, Row, register


def perturb(p, batch):
    """Gradient source: the virtual one (power iterations from a random probe); raw step: one; no direction
    map, no sparsifier."""
    virtual = stages.with_virtual_gradient(batch, stages.virtual_gradient(p, batch))
    return stages.one_step(p, virtual)


def describe(p):
    return ", xi %.3g, %d power iteration(s)" % (p.vat_xi, p.power_iterations)


METHOD = register(Method(
    "vat", "VAT", perturb, paper_eps=5.0, gradient_based=False, virtual=True, keys=stages.VIRTUAL_KEYS,
    describe=describe,
    rows=(Row("vat", "vat", "Pretrained w/VAT (unlabeled reviews)", kind="virtual"),)))
