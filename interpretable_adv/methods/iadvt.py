"""iAdvT-Text (Sato et al. 2018, eq. 6): the label gradient expressed in each word's K neighbour directions."""

from interpretable_adv.methods import stages
from interpretable_adv.methods.registry import Method, Row, register


def perturb(p, batch):
    """Gradient source: the label loss; direction map: the neighbour subspace (normalised to eps)."""
    return stages.neighbour_subspace(p, batch)


METHOD = register(Method(
    "iadvt", "iAdvT-Text", perturb, paper_eps=15.0, needs_neighbors=True,
    keys={"perturbation_norm": stages.PERTURBATION_NORM, "iadvt_weights": stages.IADVT_WEIGHTS},
    paper_table1=123.86,
    rows=(Row("iadvt", "iadvt", "Pretrained w/iAdvT-Text", paper=93.58),)))
