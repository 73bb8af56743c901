"""What a perturbation method is, and the one registry every list of methods and of run rows comes from.

A :class:`Method` is a recipe: its name and title, the paper's epsilon,
whether it needs the neighbour table, its own configuration keys, and
``perturb(perturbation, batch) -> d``, composed in its module from the
stages of :mod:`interpretable_adv.methods.stages` (a gradient source, a raw
step, a direction map, a sparsifier) over the equations of
:mod:`interpretable_adv.adversarial`. Each method also declares the run rows
of Tables 1 and 3 it gives (:class:`Row`). Method names, titles, schema
choices, Table rows, the scripts' lists (``iadv methods``), the benchmark's
estimate and the plots all ask this registry.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Batch:
    """What a perturbation reads of one batch of N = sum_b L_b tokens.

    ``grad`` (N, D): the clean gradient of the label loss w.r.t. the
    (dropped-out) embeddings; ``words`` (N,): the token ids; ``layout``: the
    :class:`~interpretable_adv.perturbation.BatchLayout` (flat <-> padded);
    ``labels`` (B,): the reviews' classes (equation 9's ``y``);
    ``embeddings`` (V, D): the matrix neighbour directions are taken from;
    ``neighbors``: the :class:`~interpretable_adv.neighbors.NeighborTable`;
    ``input_gradient(r)``: the gradient (B, T, D) at ``x + r`` for a padded
    ``r`` (SPGD with M > 1); ``virtual_gradient(r)``: the gradient (B, T, D)
    of ``KL(p(.|x) || p(.|x + r))`` for a padded ``r``, the clean prediction
    and the weights fixed (the VAT family; ``grad`` is then None).
    """

    grad: object
    words: object
    layout: object
    labels: object = None
    embeddings: object = None
    neighbors: object = None
    input_gradient: object = None
    virtual_gradient: object = None


ROW_KINDS = ("paper", "lm", "control", "virtual")


@dataclasses.dataclass(frozen=True)
class Row:
    """One run of a reproduction (a directory ``RUNS/seedN/NAME``) and its line in Tables 1 and 3.

    ``kind``: ``paper`` (Table 3 of the paper), ``lm`` (with equation 9's LM
    term, beyond the paper), ``control`` or ``virtual`` (semi-supervised, on
    the unlabeled reviews: the VAT family, beyond the paper); ``paper``: the paper's Table 3
    figure (best of 5), if any.
    """

    name: str
    method: str
    title: str
    paper: float = None
    pretrained: bool = True
    lm_term: bool = False
    kind: str = "paper"

    def __post_init__(self):
        if self.kind not in ROW_KINDS:
            raise ValueError("row kind must be one of %s, got %r" % (", ".join(ROW_KINDS), self.kind))


@dataclasses.dataclass(frozen=True)
class Method:
    """One perturbation method (see the module docstring); ``perturb`` None: no perturbation (Baseline).

    ``gradient_based``: ``d`` follows the label loss's gradient, so equation
    9's LM term can modify it; ``virtual``: ``d`` follows the virtual
    adversarial gradient (no label: trained on labeled and unlabeled reviews
    with ``KL(p(.|x) || p(.|x + d))``, the VAT family); ``sparse``: ``d`` is zero on most tokens
    (figures centre on it); ``keys``: the configuration keys only this method
    reads, ``{name: Key}`` (:class:`~interpretable_adv.keys.Key`: default,
    range, help; a key several methods read is one shared Key object);
    ``describe(perturbation)``: its settings for logs and figures;
    ``paper_table1``: the paper's Table 1 perplexity of its examples.
    """

    name: str
    title: str
    perturb: object = None
    paper_eps: float = None
    needs_neighbors: bool = False
    gradient_based: bool = True
    virtual: bool = False
    sparse: bool = False
    keys: dict = dataclasses.field(default_factory=dict)
    describe: object = None
    paper_table1: float = None
    rows: tuple = ()

    @property
    def adversarial(self):
        return self.perturb is not None


_METHODS = {}


def register(method):
    """Add ``method`` to the registry (each name once; each row name once); returns it."""
    if method.name in _METHODS:
        raise ValueError("method %r is registered twice" % method.name)
    taken = {row.name for m in _METHODS.values() for row in m.rows}
    declared = setting_keys()
    for name, key in method.keys.items():
        if declared.get(name, key) is not key:
            raise ValueError("key %r of method %r is declared differently by another method; share one Key"
                             % (name, method.name))
    for row in method.rows:
        if row.name in taken or row.method != method.name:
            raise ValueError("row %r of method %r: name taken or another method's" % (row.name, method.name))
    _METHODS[method.name] = method
    return method


def get(name):
    """The registered method ``name`` (ValueError naming the known ones otherwise)."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ValueError("unknown method %r (known: %s)" % (name, ", ".join(_METHODS))) from None


def all_methods():
    """Every registered method, in registration order."""
    return tuple(_METHODS.values())


def setting_keys():
    """Every method's own keys ``{name: Key}``, in registration order: what a
    :class:`~interpretable_adv.perturbation.Perturbation` and the ``train`` schema take from the recipes."""
    keys = {}
    for method in _METHODS.values():
        keys.update(method.keys)
    return keys


def names(adversarial=None, gradient=None, virtual=None):
    """Method names in registration order; ``adversarial=True``/``False`` keeps those that do/do not perturb,
    ``gradient=True`` those whose ``d`` follows the label gradient (what an eps sweep scales, what equation 9's LM
    term can modify), ``virtual=True`` those that follow the virtual adversarial gradient (the VAT family)."""
    return tuple(m.name for m in _METHODS.values() if (adversarial is None or m.adversarial == adversarial)
                 and (gradient is None or (m.adversarial and m.gradient_based) == gradient)
                 and (virtual is None or m.virtual == virtual))


def rows(kinds=ROW_KINDS):
    """The run rows of Tables 1 and 3: every ``paper`` row in registration order, then ``lm``, then ``control``."""
    return tuple(row for kind in kinds for m in _METHODS.values() for row in m.rows if row.kind == kind)


def row(name):
    """The run row ``name`` (ValueError naming the known ones otherwise)."""
    for candidate in rows():
        if candidate.name == name:
            return candidate
    raise ValueError("unknown run row %r (known: %s)" % (name, ", ".join(r.name for r in rows())))


def row_of(method, pretrained, lm_term):
    """Name of the run row a training configuration is (its directory in ``RUNS/seedN/``).

    ``pretrained`` and ``lm_term``: whether the run starts from the LM and
    trains with equation 9's term (``Pretrained`` is ``baseline`` from the
    LM; ``spgd_lm`` is ``spgd`` with the term). A combination no row has is
    named after the method, ``_scratch`` without the LM and ``_lm`` with the term.
    """
    for candidate in rows():
        if (candidate.method, candidate.pretrained, candidate.lm_term) == (method, bool(pretrained), bool(lm_term)):
            return candidate.name
    return method + ("" if pretrained else "_scratch") + ("_lm" if lm_term else "")


def sparse_row():
    """The paper row of the first sparse method (SPGD's): the run Figures 1-4 centre on."""
    return next(r for r in rows(("paper",)) if get(r.method).sparse)


def perturbed_rows(kinds=ROW_KINDS):
    """The rows whose method perturbs (the rows of Table 1)."""
    return tuple(r for r in rows(kinds) if get(r.method).adversarial)


def paper_table1(row_name):
    """The paper's Table 1 perplexity of a row's adversarial examples (its method's, for a ``paper`` row), or None."""
    found = row(row_name)
    return get(found.method).paper_table1 if found.kind == "paper" else None


def short_title(row_name):
    """How Table 1, plots and the terminal name a row: its method's title, plus the LM term if it has one."""
    found = row(row_name)
    return get(found.method).title + (" + LM term (eq. 9)" if found.lm_term else "")
