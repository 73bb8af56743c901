"""AdvT-Text (Miyato et al. 2017, eq. 5): ``d_b = eps g_b / ||g_b||``, the label loss's gradient scaled to eps."""

from interpretable_adv.methods import stages
from interpretable_adv.methods.registry import Method, Row, register


def perturb(p, batch):
    """Gradient source: the label loss; raw step: one; no direction map, no sparsifier."""
    return stages.one_step(p, batch)


METHOD = register(Method(
    "advt", "AdvT-Text", perturb, paper_eps=5.0, keys={"perturbation_norm": stages.PERTURBATION_NORM}, paper_table1=122.53,
    rows=(Row("advt", "advt", "Pretrained w/AdvT-Text", paper=93.58),
          Row("advt_lm", "advt", "Pretrained w/AdvT-Text + LM term (eq. 9)", lm_term=True, kind="lm"))))
