"""A study's search space: ``--space KEY=SPEC``, checked by the ``train`` schema, as Optuna distributions.

``KEY`` is any experiment key of ``iadv train`` (``eps_scale``, ``eps``,
``sigma``, ``n_neighbors`` = K, ``spgd_steps`` = M, ``adv_weight`` = lambda,
``lr``, ``lr_warmup``, ``method``, ...; ``eps-scale`` is accepted too).
``SPEC`` is one of

- ``A,B,C``: these values (categorical; what ``--sampler grid`` needs), each
  converted to the key's type and checked like a flag's value;
- ``LOW:HIGH``: a range, integers for an int key, reals for a float key;
- ``LOW:HIGH:log``: a log-uniform range; ``LOW:HIGH:STEP``: a range in steps.

Every value (a range's two ends) is checked by the key's declaration
(:class:`~interpretable_adv.keys.Key`), so a space the schema refuses fails
in one line before any trial starts.
"""

import dataclasses

from interpretable_adv import methods
from interpretable_adv.errors import UsageError
from interpretable_adv.keys import flag_of
from interpretable_adv.presets.schema import SECTIONS

# Keys a study may not search: where a run goes or how it is watched (``experiment=False``), and the inputs.
UNTUNABLE = frozenset({"pretrained", "lm_term", "max_train_examples"})
# Keys only an adversarial method reads; keys only a method with neighbour directions reads.
_ADVERSARIAL_KEYS = ("eps", "eps_scale", "adv_weight", "dropout_masks")
_NEIGHBOR_KEYS = ("n_neighbors", "neighbor_interval", "neighbor_interval_unit", "neighbor_mode")


def tunable_keys():
    """The ``train`` keys a space may name, in the schema's order."""
    return [name for name, key in SECTIONS["train"].items()
            if key.experiment and name not in UNTUNABLE and key.kind in ("int", "float", "str", "bool")]


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One searched key: ``values`` (categorical) or ``low``/``high`` with ``log`` or ``step`` (a range)."""

    name: str
    values: tuple = None
    low: float = None
    high: float = None
    log: bool = False
    step: float = None

    @property
    def categorical(self):
        return self.values is not None

    def distribution(self):
        """The Optuna distribution of this parameter (what the study stores)."""
        import optuna

        if self.categorical:
            return optuna.distributions.CategoricalDistribution(self.values)
        if SECTIONS["train"][self.name].kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log,
                                                        step=int(self.step or 1))
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def spec(self):
        """The ``KEY=SPEC`` text of this parameter (recorded with the study)."""
        if self.categorical:
            return "%s=%s" % (self.name, ",".join(str(v) for v in self.values))
        tail = ":log" if self.log else (":%s" % self.step if self.step is not None else "")
        return "%s=%s:%s%s" % (self.name, self.low, self.high, tail)


def _converted(key, name, text, where):
    """``text`` as a value of ``key`` (the schema's type, range and choices), or one-line UsageError."""
    text = text.strip()
    try:
        if key.kind == "int":
            value = int(text)
        elif key.kind == "float":
            value = float(text)
        elif key.kind == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError("must be true or false, got %r" % text)
            value = text.lower() == "true"
        else:
            value = text
        return key.check(value)
    except ValueError as exc:
        message = str(exc)
        if not message.startswith("must"):
            message = "must be %s, got %r" % (key.describe(), text)
        raise UsageError("--space %s: %s %s" % (where, flag_of(name), message)) from None


def parse_parameter(text):
    """One ``--space KEY=SPEC`` as a :class:`Parameter` (UsageError naming what is wrong otherwise)."""
    if "=" not in text:
        raise UsageError("--space %s: expected KEY=SPEC, e.g. eps_scale=0.01,0.03,0.1 or lr=1e-4:1e-2:log" % text)
    name, spec = (part.strip() for part in text.split("=", 1))
    name = name.lstrip("-").replace("-", "_")
    allowed = tunable_keys()
    if name not in allowed:
        why = "not an `iadv train` key" if name not in SECTIONS["train"] else "not searchable (an input or a path)"
        raise UsageError("--space %s: %s is %s; searchable keys: %s" % (text, name, why, ", ".join(allowed)))
    key = SECTIONS["train"][name]
    if not spec:
        raise UsageError("--space %s: no values after '='" % text)
    if ":" in spec:
        if key.kind not in ("int", "float"):
            raise UsageError("--space %s: a range LOW:HIGH needs a numeric key; %s is %s, so list its values "
                             "(A,B,...)" % (text, name, key.describe()))
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise UsageError("--space %s: a range is LOW:HIGH, LOW:HIGH:log or LOW:HIGH:STEP" % text)
        low, high = (_converted(key, name, part, text) for part in parts[:2])
        if not low < high:
            raise UsageError("--space %s: LOW must be below HIGH" % text)
        log, step = False, None
        if len(parts) == 3:
            if parts[2].strip() == "log":
                if low <= 0:
                    raise UsageError("--space %s: a log range needs LOW > 0" % text)
                log = True
            else:
                try:
                    step = (int if key.kind == "int" else float)(parts[2])
                except ValueError:
                    raise UsageError("--space %s: the third part is 'log' or a step, got %r" % (text, parts[2])) \
                        from None
                if step <= 0:
                    raise UsageError("--space %s: the step must be positive" % text)
        return Parameter(name, low=low, high=high, log=log, step=step)
    values = tuple(_converted(key, name, part, text) for part in spec.split(","))
    if len(set(values)) != len(values):
        raise UsageError("--space %s: a value is listed twice" % text)
    return Parameter(name, values=values)


def parse_space(texts, fixed, method_choices):
    """The parameters of ``--space`` flags, each key once, none also fixed by a flag, each used by its methods.

    ``fixed``: the train keys set by flags; ``method_choices``: the methods
    the study trains (the fixed ``--method``, or the values of ``method=``).
    """
    if not texts:
        raise UsageError("give at least one --space KEY=SPEC, e.g. --space eps_scale=0.01,0.03,0.1")
    parameters = [parse_parameter(text) for text in texts]
    names = [p.name for p in parameters]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError("--space: %s searched twice; give each key once" % ", ".join(twice))
    both = sorted(set(names) & set(fixed))
    if both:
        raise UsageError("--space %s: also fixed by %s; a key is either searched or fixed"
                         % (both[0], flag_of(both[0])))
    for name in names:
        unused = [m for m in method_choices if not _reads(methods.get(m), name)]
        if unused:
            raise UsageError("--space %s: --method %s does not use %s, so every trial would be the same run"
                             % (name, unused[0], flag_of(name)))
    return parameters


def _reads(method, name):
    """Whether runs of ``method`` read the key ``name`` (a method's own keys, adversarial and neighbour keys)."""
    own = methods.setting_keys()
    if name in own:
        return name in method.keys
    if name in _ADVERSARIAL_KEYS:
        return method.adversarial
    if name in _NEIGHBOR_KEYS:
        return method.needs_neighbors
    return True


def grid(parameters):
    """``{name: values}`` for Optuna's GridSampler; UsageError when a parameter is a range."""
    ranges = [p.name for p in parameters if not p.categorical]
    if ranges:
        raise UsageError("--sampler grid needs listed values (A,B,...), not a range, for %s; list the points or "
                         "use --sampler tpe" % ", ".join(ranges))
    return {p.name: list(p.values) for p in parameters}


def grid_size(parameters):
    size = 1
    for p in parameters:
        size *= len(p.values)
    return size


def suggest(trial, parameters):
    """The trial's values ``{name: value}``, drawn by the study's sampler (Optuna's ``suggest_*``)."""
    values = {}
    for p in parameters:
        if p.categorical:
            values[p.name] = trial.suggest_categorical(p.name, p.values)
        elif SECTIONS["train"][p.name].kind == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    return values
