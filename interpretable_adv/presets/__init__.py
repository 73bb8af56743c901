"""Presets: ``paper`` (exact sizes, GPU), ``small`` (real IMDB on a CPU), ``tiny`` (synthetic, seconds),
``upstream`` (the upstream iAdvT README command).

Each preset file has a ``pretrain`` and a ``train`` section; command-line flags
override single keys, and the resolved configuration goes to ``args.json``.
"""

import json
import os

PRESETS = ("paper", "small", "tiny", "upstream")


def load_preset(name, section):
    """The ``section`` (``pretrain`` or ``train``) of preset ``name`` (or of a JSON file path)."""
    path = name if name.endswith(".json") else os.path.join(os.path.dirname(__file__), name + ".json")
    if not os.path.isfile(path):
        raise ValueError("unknown preset %r (choose from %s, or give a .json file)" % (name, ", ".join(PRESETS)))
    with open(path) as f:
        return dict(json.load(f)[section])


def resolve(name, section, overrides):
    """Preset values with every non-None override applied."""
    config = load_preset(name, section)
    unknown = set(overrides) - set(config) - {"resume", "progress", "preset"}
    if unknown:
        raise ValueError("unknown configuration keys: %s" % ", ".join(sorted(unknown)))
    config.update({k: v for k, v in overrides.items() if v is not None})
    config["preset"] = name
    return config
