"""A configuration key (:class:`Key`): what values it takes, its default, its flag.

Keys are declared once, in the module whose code reads them: a method's own
keys in its recipe (:mod:`interpretable_adv.methods`), everything else in
:mod:`interpretable_adv.presets.schema`, which assembles the sections of
``iadv pretrain`` and ``iadv train``. The presets, the command-line flags,
the resume check and the recipes all read these declarations.
"""

import math

REQUIRED = object()   # the default of a key that every preset must set


class Key:
    """One configuration key, declared once: its kind, allowed values, default and help.

    ``kind``: int, float, str, bool, int_list or device; ``low``/``high``
    (``*_open``: strict) or ``choices``; ``nullable``: None allowed;
    ``default``: the value when no preset or flag sets it (the ``paper``
    preset's, i.e. Appendix B's where the paper gives one; :data:`REQUIRED`:
    a preset must set it); ``help``: the flag's ``--help`` line; ``short``:
    the flag's one-letter alias (Chainer's ``-o``, ``-e``, ``-b``, ``-d``);
    ``experiment``: False for keys that change how a run is watched, stored
    or where it runs, not what it computes (they may differ on resume).
    """

    def __init__(self, kind, low=None, high=None, low_open=False, high_open=False, choices=None, nullable=False,
                 default=REQUIRED, help="", short=None, experiment=True):
        self.kind, self.low, self.high = kind, low, high
        self.low_open, self.high_open = low_open, high_open
        self.choices, self.nullable = (tuple(choices) if choices else None), nullable
        self.default, self.help, self.short, self.experiment = default, help, short, experiment
        if default is not REQUIRED:
            self.check(default)   # a default the key itself would refuse is a bug in its declaration

    def but(self, **changes):
        """This key with some attributes changed (e.g. another section's default)."""
        fields = dict(vars(self), **changes)
        return Key(**fields)

    @property
    def required(self):
        return self.default is REQUIRED

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


def flag_of(key):
    return "--" + key.replace("_", "-")


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
    convert = {"int": int, "float": float, "int_list": int_list}.get(kind, str)

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


def int_list(text):
    """``2000,10000`` -> [2000, 10000] (ValueError otherwise), the text form of an ``int_list`` key."""
    return [int(part) for part in text.split(",")]
