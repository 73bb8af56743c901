"""No perturbation: the Baseline (random initialisation) and Pretrained (LM initialisation) rows of Table 3."""

from interpretable_adv.methods.registry import Method, Row, register

METHOD = register(Method(
    "baseline", "Baseline", perturb=None, gradient_based=False,
    rows=(Row("baseline", "baseline", "Baseline", paper=89.83, pretrained=False),
          Row("pretrained", "baseline", "Pretrained", paper=92.69))))
