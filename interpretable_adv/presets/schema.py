"""Every configuration key of ``iadv pretrain`` / ``iadv train``: its type, its range or choices.

One table serves the presets (unknown keys are rejected with their name,
wrong types and out-of-range values with the key), the command-line flags
(``choices`` in ``--help``; the same ranges, reported with the flag's name)
and the resume check (:data:`NON_EXPERIMENT_KEYS` may change between a run
and its resumption; every other key may not). Paper symbols: ``eps`` =
epsilon, ``n_neighbors`` = K, ``sigma`` = sigma, ``spgd_steps`` = M,
``adv_weight`` = lambda.
"""

import math

# The enumerations, one place each: every one lives with the module that uses it, and the schema takes its
# choices from there.
from interpretable_adv import methods
from interpretable_adv.adversarial import IADVT_WEIGHTS, NORMS, SPGD_RANKS
from interpretable_adv.distributed import COMMUNICATORS
from interpretable_adv.errors import UsageError
from interpretable_adv.lm_term import LM_INPUTS
from interpretable_adv.neighbors import MODES as NEIGHBOR_MODES
from interpretable_adv.neighbors import REFRESH_UNITS as NEIGHBOR_UNITS
from interpretable_adv.nets import DROPOUT_MASKS, READOUTS, SOFTMAXES


class Key:
    """One configuration key: ``kind`` in int/float/str/bool/int_list/device, bounds or ``choices``."""

    def __init__(self, kind, low=None, high=None, low_open=False, high_open=False, choices=None, nullable=False):
        self.kind, self.low, self.high = kind, low, high
        self.low_open, self.high_open = low_open, high_open
        self.choices, self.nullable = choices, nullable

    def describe(self):
        """The allowed values, in words (for error messages)."""
        if self.choices:
            return "one of %s" % ", ".join(self.choices)
        parts = []
        if self.low is not None:
            parts.append("%s %s" % (">" if self.low_open else ">=", self.low))
        if self.high is not None:
            parts.append("%s %s" % ("<" if self.high_open else "<=", self.high))
        text = {"int": "an integer", "float": "a finite number", "str": "a string", "bool": "true or false",
                "int_list": "a list of increasing positive integers", "device": "a device"}[self.kind]
        return text + (" " + " and ".join(parts) if parts else "") + (" (or null)" if self.nullable else "")

    def check(self, value):
        """``value`` normalised, or ValueError whose message says what is allowed."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError("must be %s, got null" % self.describe())
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("must be true or false, got %r" % (value,))
            return value
        if self.kind == "str":
            if not isinstance(value, str) or not value:
                raise ValueError("must be %s, got %r" % (self.describe(), value))
            if self.choices and value not in self.choices:
                raise ValueError("must be one of %s, got %r" % (", ".join(self.choices), value))
            return value
        if self.kind == "device":
            return normalise_device(value, check_available=False)
        if self.kind == "int_list":
            if (not isinstance(value, (list, tuple)) or not value
                    or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
                    or list(value) != sorted(set(value))):
                raise ValueError("must be %s, got %r" % (self.describe(), value))
            return list(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be %s, got %r" % (self.describe(), value))
        if self.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError("must be %s, got %r" % (self.describe(), value))
                value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError("must be %s, got %r" % (self.describe(), value))
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ValueError("must be %s, got %r" % (self.describe(), value))
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise ValueError("must be %s, got %r" % (self.describe(), value))
        return value


def _positive_int(nullable=False):
    return Key("int", low=1, nullable=nullable)


_COMMON = {
    "data": Key("str"), "out": Key("str"), "seed": Key("int", low=0, high=2 ** 32 - 1), "device": Key("device"),
    "embed_dim": _positive_int(), "hidden_dim": _positive_int(),
    "dropout": Key("float", low=0.0, high=1.0, high_open=True),
    "batchsize": _positive_int(), "lr": Key("float", low=0.0, low_open=True),
    "grad_clip": Key("float", low=0.0, low_open=True), "epoch": _positive_int(),
    "eval_batchsize": _positive_int(), "log_interval": _positive_int(), "snapshot_interval": _positive_int(),
}
SECTIONS = {
    "pretrain": dict(_COMMON, **{
        "softmax": Key("str", choices=SOFTMAXES), "cutoffs": Key("int_list"),
        "div_value": Key("float", low=1.0), "init_scale": Key("float", low=0.0, low_open=True),
        "forget_bias": Key("float"), "bptt_len": _positive_int(),
        "alpha_decay": Key("float", low=0.0, high=1.0, low_open=True),
        "max_iterations": _positive_int(True), "max_train_tokens": _positive_int(True),
        "eval_tokens": Key("int", low=2, nullable=True), "eval_interval": _positive_int(True),
        "eval_bptt_len": _positive_int(),
        "conditional": Key("bool"), "init": Key("str", nullable=True),
    }),
    "train": dict(_COMMON, **{
        "method": Key("str", choices=methods.names()), "pretrained": Key("str", nullable=True),
        "fc_dim": _positive_int(), "fc_bias": Key("float"), "readout": Key("str", choices=READOUTS),
        "lr_decay": Key("float", low=0.0, high=1.0, low_open=True), "lr_warmup": Key("int", low=0),
        "max_length": Key("int", low=2, nullable=True), "max_train_examples": _positive_int(True),
        "bucket_batches": _positive_int(),
        "eps": Key("float", low=0.0, nullable=True), "eps_scale": Key("float", low=0.0),
        "n_neighbors": _positive_int(), "sigma": Key("float", low=0.0, high=1.0, high_open=True),
        "spgd_steps": _positive_int(), "adv_weight": Key("float", low=0.0),
        "neighbor_interval": _positive_int(), "neighbor_interval_unit": Key("str", choices=NEIGHBOR_UNITS),
        "neighbor_mode": Key("str", choices=NEIGHBOR_MODES), "perturbation_norm": Key("str", choices=NORMS),
        "iadvt_weights": Key("str", choices=IADVT_WEIGHTS), "towards_only": Key("bool"),
        "spgd_rank": Key("str", choices=SPGD_RANKS), "dropout_masks": Key("str", choices=DROPOUT_MASKS),
        "lm_term": Key("str", nullable=True), "lm_weight": Key("float", low=0.0),
        "lm_input": Key("str", choices=LM_INPUTS),
    }),
}
# Keys added after the paper's reproduction (equation 9): a preset or a saved args.json may lack them,
# and then holds these values (so older presets, runs and resumptions keep their meaning).
OPTIONAL_DEFAULTS = {
    "pretrain": {"conditional": False, "init": None},
    "train": {"lm_term": None, "lm_weight": 1.0, "lm_input": "offset"},
}
# Keys set by the command line, not by presets.
RUN_KEYS = {"resume": Key("str", nullable=True), "progress": Key("bool"), "preset": Key("str"),
            "communicator": Key("str", choices=COMMUNICATORS, nullable=True)}

# Keys that may differ between a run and its resumption: they change how a run is watched, stored or
# where it runs, not what it computes. (``data`` is a path: the dataset itself is compared by its
# fingerprint; ``eval_batchsize`` only groups the same dev/test reviews, with dropout off.)
NON_EXPERIMENT_KEYS = frozenset({"out", "device", "progress", "log_interval", "snapshot_interval",
                                 "eval_batchsize", "resume", "preset", "data", "communicator"})


def flag_of(key):
    return "--" + key.replace("_", "-")


def validate(config, section, sources):
    """Check every key of ``config`` against :data:`SECTIONS`; returns the normalised config.

    ``sources[key]`` says where a value came from (``"flag"`` or a preset
    name), used to name it in the one-line :class:`UsageError`.
    """
    schema = SECTIONS[section]
    config = dict(OPTIONAL_DEFAULTS[section], **config)
    checked = {}
    for key, value in config.items():
        spec = schema.get(key) or RUN_KEYS.get(key)
        where = sources.get(key, "flag")
        if spec is None:
            raise UsageError("preset %s: unknown key %r for `iadv %s` (known: %s)"
                             % (where, key, section, ", ".join(sorted(schema))))
        try:
            checked[key] = spec.check(value)
        except ValueError as exc:
            name = flag_of(key) if where == "flag" else "preset %s: key %r" % (where, key)
            raise UsageError("%s %s" % (name, exc)) from None
    missing = sorted(set(schema) - set(checked))
    if missing:
        raise UsageError("preset %s: missing key(s) %s for `iadv %s`"
                         % (sources.get("preset", "?"), ", ".join(missing), section))
    if section == "pretrain" and checked.get("cutoffs") and checked["cutoffs"][0] < 2:
        raise UsageError("cutoffs must start at >= 2 (the head keeps <eos> and <unk>)")
    if section == "train" and not checked.get("lm_term"):
        given = [flag_of(key) for key in ("lm_weight", "lm_input") if sources.get(key) == "flag"]
        if given:
            raise UsageError("%s: only used with --lm-term (the equation-9 LM term it sets); add --lm-term CLM "
                             "or drop %s" % (" and ".join(given), "them" if len(given) > 1 else "it"))
    if section == "train" and checked.get("lm_term") and checked["method"] not in methods.names(gradient=True):
        raise UsageError("--lm-term adds equation 9's LM term to an adversarial perturbation's gradient; --method %s "
                         "has none (use %s)" % (checked["method"], " or ".join(methods.names(gradient=True))))
    return checked


def normalise_device(spec, check_available=True):
    """``--device`` as Chainer's specifier (``@numpy``, ``@cupy:N``, ``@intel64``); ValueError if unusable.

    -1 (or any negative number) and ``@numpy`` are the CPU; N >= 0 and
    ``@cupy:N`` need CuPy and a CUDA GPU number N. With ``check_available``
    that is checked here, so that a run fails before it writes anything
    (presets are checked without it: ``paper`` names GPU 0 on any machine).
    """
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        number = int(text)
        text = "@numpy" if number < 0 else "@cupy:%d" % number
    if text == "@numpy":
        return text
    if text == "@intel64":
        if not check_available:
            return text
        try:
            import ideep4py  # noqa: F401
        except ImportError:
            raise ValueError("@intel64 needs iDeep (ideep4py), which is not installed") from None
        return text
    if not (text.startswith("@cupy:") and text[len("@cupy:"):].isdigit()):
        raise ValueError("%r is not a device: use -1 or @numpy (CPU), N or @cupy:N (GPU N)" % (spec,))
    number = int(text[len("@cupy:"):])
    if not check_available:
        return text
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy missing, or no driver / no GPU
        raise ValueError("%s: no CUDA GPU is usable here (CuPy missing or no device); use --device -1 "
                         "for the CPU" % (spec,)) from None
    if number >= count:
        raise ValueError("%s: GPU %d does not exist (this machine has %d)" % (spec, number, count))
    return text


DEVICE_HELP = "-1 or @numpy = CPU, N or @cupy:N = GPU N"


def add_device_flag(parser, default="-1", extra=""):
    """``--device/-d``, described the same way by every command."""
    parser.add_argument("--device", "-d", dest="device", default=default,
                        type=None if default is None else device_flag, help=DEVICE_HELP + extra)


def device_flag(spec):
    """argparse ``type=`` for ``--device`` of the commands that do not go through a preset."""
    import argparse

    try:
        return normalise_device(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def flag_type(kind, **bounds):
    """argparse ``type=`` checking one value like a :class:`Key` (e.g. ``flag_type("int", low=1)``)."""
    import argparse

    key = Key(kind, **bounds)
    convert = {"int": int, "float": float}.get(kind, str)

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError("must be %s, got %r" % (key.describe(), text)) from None
        try:
            return key.check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = kind   # argparse names the type in its messages
    return parse
