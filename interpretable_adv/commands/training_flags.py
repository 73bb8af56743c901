"""The flags ``iadv pretrain`` and ``iadv train`` share: a preset plus Chainer-style overrides.

Each flag overrides one configuration key of the preset; every value is then
checked against :mod:`interpretable_adv.presets.schema` (types, ranges,
choices), and ``--test`` swaps in a few iterations on a small subset.
"""

from interpretable_adv.keys import add_device_flag, flag_of, int_list
from interpretable_adv.presets import PRESETS, load_preset, resolve_run
from interpretable_adv.presets.schema import RUN_KEYS, SECTIONS

def add_arguments(parser, section, exclude=()):
    """``--preset``, ``--resume``, ``--test``, ``--communicator``, ``--no-progress``, ``--show-config``, and one
    flag per configuration key of ``section`` (its Key's help and choices, the ``paper`` and ``small`` values);
    ``exclude``: the destinations (``resume``, ``out``, ...) of flags to leave out (``iadv tune``'s own)."""
    parser.add_argument("--preset", default="small",
                        help="preset: %s, or a JSON file (default: small)" % ", ".join(PRESETS))
    run_flags = (
        (("--resume", "-r"), dict(dest="resume", default=None, help="load this trainer snapshot (rerunning into the "
                                  "same --out resumes automatically)")),
        (("--test",), dict(dest="test", action="store_true", help="quick check: a few iterations on a small subset")),
        (("--communicator",), dict(dest="communicator", choices=RUN_KEYS["communicator"].choices, default=None,
                                   help="data-parallel training on ChainerMN, under `mpiexec -n N` (naive on CPUs, "
                                        "pure_nccl on GPUs; chosen automatically under mpiexec); --batchsize is then "
                                        "per process")),
        (("--no-progress",), dict(dest="progress", action="store_false", default=None, help="no progress bar")),
        (("--show-config",), dict(dest="show_config", action="store_true",
                                  help="print the resolved configuration (preset, flags, defaults) as JSON and exit")),
        (("--check-done",), dict(dest="check_done", action="store_true",
                                 help="exit 0 if --out holds a finished run of exactly these settings, else 1 with the "
                                      "reason (writes nothing; the scripts' resumable stages ask this before reusing a "
                                      "run)")),
    )
    for names, options in run_flags:
        if options["dest"] not in exclude:
            parser.add_argument(*names, **options)
    shown = {name: load_preset(name, section) for name in ("paper", "small")}
    for key, spec in SECTIONS[section].items():
        if key in exclude:
            continue
        if spec.kind == "device":
            add_device_flag(parser, default=None, extra=" (default: the preset's; CPU except paper/upstream: GPU 0)")
            continue
        names = [flag_of(key)] + ([spec.short] if spec.short else [])
        text = "%s (default: the preset's; paper: %s, small: %s)" % (
            spec.help, _shown(shown["paper"].get(key)), _shown(shown["small"].get(key)))
        if spec.kind == "bool":
            parser.add_argument(*names, dest=key, action="store_true", default=None, help=text.replace("%", "%%"))
            continue
        parser.add_argument(*names, dest=key, type=_CONVERTERS[spec.kind], default=None, help=text.replace("%", "%%"),
                            choices=spec.choices, metavar="{%s}" % ",".join(spec.choices) if spec.choices else None)


# A flag's text becomes the key's type here; the schema then checks it like a preset's value (one message).
_CONVERTERS = {"int": int, "float": float, "str": str, "int_list": int_list}


def _shown(value):
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def config_overrides(args, section):
    """The configuration keys ``args`` sets (a flag per key of ``section``, the run keys); None where unset."""
    return {k: v for k, v in vars(args).items()
            if (k in SECTIONS[section] or k in RUN_KEYS) and k not in ("preset", "test")}


def resolve_config(args, section):
    """The run's configuration: ``args.preset`` with the flags applied (``--test``'s short settings with it)."""
    return resolve_run(args.preset, section, config_overrides(args, section), args.test)


def run_training(args, section):
    """Resolve and check the configuration (before anything is written), train, print the results."""
    import json

    if section == "pretrain":
        from interpretable_adv.training.lm import train_language_model as train
    else:
        from interpretable_adv.training.classifier import train_classifier as train
    config = resolve_config(args, section)
    if getattr(args, "show_config", False):
        print(json.dumps(config, indent=2, sort_keys=True))
        return 0
    if getattr(args, "check_done", False):
        from interpretable_adv.runs import finished_run_problem

        problem = finished_run_problem(config, section)
        print(problem or "%s: finished, with these settings" % config["out"])
        return 1 if problem else 0
    results = train(config)
    if results is not None:   # None on the ranks other than 0 of a data-parallel run
        print(json.dumps(results, indent=2))
    return 0
