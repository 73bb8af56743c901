"""Perturbation methods, one registered recipe per module (:mod:`interpretable_adv.methods.registry`).

Adding a method: a module here that registers its :class:`Method` (and its
run rows), and its name on the :data:`RECIPES` line. Everything else asks the
registry: :func:`get`, :func:`names`, :func:`rows`, :func:`row`.
"""

import importlib

from interpretable_adv.methods.registry import (  # noqa: F401  (the package's public names)
    Batch,
    Method,
    Row,
    all_methods,
    get,
    names,
    paper_table1,
    perturbed_rows,
    row,
    row_of,
    rows,
    setting_keys,
    short_title,
    sparse_row,
)

# The recipes, in the order tables list them.
RECIPES = ("baseline", "advt", "iadvt", "spgd", "rp", "vat", "ivat", "spgd_vat")

for _recipe in RECIPES:
    importlib.import_module("interpretable_adv.methods." + _recipe)
