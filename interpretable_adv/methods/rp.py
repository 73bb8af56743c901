"""Random perturbation (Miyato et al. 2017's control): ``d_b = eps r_b / ||r_b||``, ``r ~ N(0, I)`` per token.

The control that separates "any noise of norm eps" from "the adversarial
direction": the same normalisation and epsilon as AdvT (paper eps 5.0 x
``eps_scale``), a direction that ignores the loss. ``r`` is drawn from the
array module's generator (NumPy's global one on a CPU, whose state the
trainer's snapshots hold, so a resumed run draws what an uninterrupted one
would; CuPy's on a GPU, which the snapshots do not hold).
"""

from interpretable_adv.methods import stages
from interpretable_adv.methods.registry import Method, Row, register


def gaussian_source(batch):
    """Gradient source of the control: ``r`` (N, D), independent standard normal entries."""
    xp = batch.layout.xp
    return xp.random.standard_normal(batch.grad.shape).astype(batch.grad.dtype, copy=False)


def perturb(p, batch):
    """Gradient source: random; raw step: one, normalised per review as AdvT's; no direction map, no sparsifier."""
    return stages.one_step(p, batch, gaussian_source(batch))


METHOD = register(Method(
    "rp", "Random perturbation", perturb, paper_eps=5.0, gradient_based=False, keys={"perturbation_norm": stages.PERTURBATION_NORM},
    rows=(Row("rp", "rp", "Pretrained w/random perturbation (control)", kind="control"),)))
