"""Presets: ``paper`` (exact sizes, GPU), ``small`` (real IMDB on a CPU), ``tiny`` (synthetic, seconds),
``upstream`` (the upstream iAdvT README command).

Each preset file has a ``pretrain`` and a ``train`` section; a preset may
``"extends"`` another (``small``, ``tiny`` and ``upstream`` extend ``paper``
and hold only their differences from it); command-line flags override single
keys, and the resolved configuration goes to ``args.json``. Under every
preset lie the keys' defaults (the paper's values), so ``paper.json`` holds
only its output directories and GPU. Every key is checked against
:mod:`interpretable_adv.presets.schema`.
"""

import json
import os

from interpretable_adv.errors import UsageError
from interpretable_adv.presets.schema import RUN_KEYS, defaults, validate

PRESETS = ("paper", "small", "tiny", "upstream")


def load_preset(name, section, _seen=()):
    """The ``section`` (``pretrain`` or ``train``) of preset ``name`` (or of a JSON file path), with the
    sections of the presets it ``"extends"`` underneath (a preset or a JSON file path, as ``--preset``), and
    under them all the keys' defaults (:func:`~interpretable_adv.presets.schema.defaults`)."""
    path = name if name.endswith(".json") else os.path.join(os.path.dirname(__file__), name + ".json")
    if not name.endswith(".json") and name not in PRESETS:
        raise UsageError("--preset %s: unknown preset (choose from %s, or give a .json file)"
                         % (name, ", ".join(PRESETS)))
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except OSError as exc:
        raise UsageError("--preset %s: cannot read (%s)" % (name, exc.strerror or exc)) from None
    except ValueError as exc:
        raise UsageError("--preset %s: not valid JSON (%s)" % (name, exc)) from None
    if not isinstance(content, dict) or not isinstance(content.get(section), dict):
        raise UsageError("--preset %s: needs a JSON object with a %r object (like the presets in %s)"
                         % (name, section, os.path.dirname(__file__)))
    own = {k: v for k, v in content[section].items() if not k.startswith("_")}
    parent = content.get("extends")
    if parent is None:
        return dict(defaults(section), **own)
    if not isinstance(parent, str) or parent in _seen + (name,):
        raise UsageError("--preset %s: \"extends\" must name another preset, not %r%s"
                         % (name, parent, " (a loop)" if isinstance(parent, str) else ""))
    return dict(load_preset(parent, section, _seen + (name,)), **own)


def resolve(name, section, overrides):
    """Preset values with every non-None override applied, each key checked (UsageError otherwise)."""
    config = load_preset(name, section)
    sources = {key: name for key in config}
    given = {k: v for k, v in overrides.items() if v is not None}
    config.update(given)
    sources.update({key: "flag" for key in given})
    config["preset"] = name
    sources["preset"] = name
    config = validate(config, section, sources)
    if sources["out"] != "flag":
        config["out"] = run_directory(config["out"], config)
    return config


# ``--test``: a few iterations on a small subset, per section.
TEST_OVERRIDES = {
    "pretrain": {"max_iterations": 20, "eval_tokens": 20000, "eval_interval": 10, "log_interval": 5,
                 "snapshot_interval": 10, "max_train_tokens": 200000},
    "train": {"max_train_examples": 200, "epoch": 1, "log_interval": 5, "snapshot_interval": 10},
}
# Where a ``--test`` run goes without ``-o``: the preset's directory with this suffix (runs/small/lm-test).
TEST_SUFFIX = "-test"


def resolve_run(preset, section, overrides, test=False):
    """A run's configuration: ``preset`` with ``overrides`` (None: unset) applied and checked; ``test``: ``--test``'s
    short settings under the overrides, and without ``out`` the preset's directory plus :data:`TEST_SUFFIX`."""
    if test:
        overrides = dict(TEST_OVERRIDES[section], **{k: v for k, v in overrides.items() if v is not None})
    config = resolve(preset, section, overrides)
    config.setdefault("progress", RUN_KEYS["progress"].default)
    config["test"] = bool(test)   # recorded in args.json and results.json
    if test and overrides.get("out") is None:   # beside the real run, never in its place (a script would reuse it)
        config["out"] = config["out"].rstrip("/\\") + TEST_SUFFIX
    return config


def run_directory(template, config):
    """A preset's ``out`` with ``{seed}`` and ``{row}`` filled in from the resolved ``config``.

    The presets write each classifier where the scripts do, ``runs/PRESET/seedN/ROW``
    (ROW: :func:`~interpretable_adv.methods.row_of`, e.g. ``pretrained`` for the
    Baseline from the LM), so ``iadv train --method spgd`` alone never lands in
    another method's directory. Other braces are left as they are.
    """
    if "{row}" in template:
        from interpretable_adv import methods

        template = template.replace("{row}", methods.row_of(config["method"], config.get("pretrained"),
                                                            config.get("lm_term")))
    return template.replace("{seed}", str(config.get("seed", 0)))
