"""Each configuration key is declared once (type, range, default, help) and every user of it reads that.

The presets hold only differences from what they extend (``paper`` from the
keys' defaults), every key has a flag with its help, a method's own keys
come from its recipe (a :class:`Perturbation` without settings has the
recipe's defaults), and a saved ``args.json`` lacking a later key reads as
its default.
"""

import json
import os

import pytest

from interpretable_adv import methods
from interpretable_adv.cli import build_parser
from interpretable_adv.keys import Key, flag_of
from interpretable_adv.presets import PRESETS, load_preset
from interpretable_adv.presets.schema import SECTIONS, defaults
from tests.helpers import invoke

PRESET_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "interpretable_adv", "presets")


def _own(preset, section):
    return json.load(open(os.path.join(PRESET_DIR, preset + ".json")))[section]


@pytest.mark.parametrize("section", ["pretrain", "train"])
def test_every_key_has_help_and_one_flag(section):
    parser = build_parser()
    command = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)).choices[section]
    flags = {option: action for action in command._actions for option in action.option_strings}
    for name, key in SECTIONS[section].items():
        assert key.help or key.kind == "device", name
        assert flag_of(name) in flags and flags[flag_of(name)].dest == name, name
        if key.choices:
            assert tuple(flags[flag_of(name)].choices) == key.choices, name


@pytest.mark.parametrize("section", ["pretrain", "train"])
def test_paper_json_states_only_what_the_defaults_do_not(section):
    """A key's paper value lives in its Key; paper.json adds the output directory and the GPU, nothing else."""
    own = {k: v for k, v in _own("paper", section).items() if not k.startswith("_")}
    assert set(own) == {"out", "device"}
    assert defaults(section)["device"] != own["device"]
    for preset in PRESETS:
        assert set(load_preset(preset, section)) == set(SECTIONS[section]), preset


def test_the_defaults_are_the_papers_appendix_b_values():
    """Independent of the code: Appendix B's numbers as the paper prints them."""
    lm, clf = defaults("pretrain"), defaults("train")
    assert (lm["embed_dim"], lm["hidden_dim"], lm["dropout"], lm["bptt_len"], lm["lr"]) == (256, 1024, 0.5, 35, 1e-3)
    assert (clf["fc_dim"], clf["batchsize"], clf["lr_decay"], clf["n_neighbors"], clf["sigma"]) == \
        (30, 32, 0.9998, 15, 0.75)
    assert (clf["spgd_steps"], clf["adv_weight"], clf["neighbor_interval"], clf["eps"]) == (1, 1.0, 50, None)
    assert {m: methods.get(m).paper_eps for m in ("advt", "iadvt", "spgd")} == {"advt": 5.0, "iadvt": 15.0,
                                                                                "spgd": 25.0}


def test_a_perturbation_takes_its_settings_defaults_and_checks_from_the_recipes():
    from interpretable_adv.perturbation import Perturbation

    spgd = methods.get("spgd")
    p = Perturbation("spgd", 1.0)
    for name, key in spgd.keys.items():
        assert getattr(p, name) == key.default, name
    assert Perturbation("spgd", 1.0, sigma=0.5).sigma == 0.5
    with pytest.raises(ValueError, match=r"^sigma must be a finite number >= 0.0 and < 1.0, got 1.0$"):
        Perturbation("spgd", 1.0, sigma=1.0)
    with pytest.raises(ValueError, match=r"^spgd_steps must be an integer >= 1, got 0$"):
        Perturbation("spgd", 1.0, spgd_steps=0)
    with pytest.raises(TypeError, match="unknown perturbation setting.*nosuch"):
        Perturbation("advt", 1.0, nosuch=3)
    config = {"method": "spgd", "eps": None, "eps_scale": 0.1, "sigma": 0.5}   # an old config: most keys absent
    p = Perturbation.from_config(config)
    assert (p.eps, p.sigma, p.spgd_rank) == (2.5, 0.5, spgd.keys["spgd_rank"].default)


def test_a_key_that_two_methods_declare_differently_is_refused():
    norm = methods.get("advt").keys["perturbation_norm"]
    other = Key("str", choices=norm.choices, default="exact", help="another declaration")
    with pytest.raises(ValueError, match="perturbation_norm.*declared differently"):
        methods.registry.register(methods.Method("twin", "Twin", lambda p, b: None, paper_eps=1.0,
                                                 keys={"perturbation_norm": other}))
    assert "twin" not in methods.names()


def test_a_default_its_own_key_refuses_is_a_declaration_bug():
    with pytest.raises(ValueError):
        Key("int", low=1, default=0, help="x")


def test_show_config_prints_the_resolved_configuration_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = invoke(["train", "--preset", "paper", "--method", "spgd", "--sigma", "0.5", "-o", str(out),
                                "--show-config"], capsys)
    assert code == 0, err
    config = json.loads(stdout)
    assert config["sigma"] == 0.5 and config["method"] == "spgd" and config["device"] == "@cupy:0"
    assert config["hidden_dim"] == 1024 and config["spgd_rank"] == "raw"
    assert not out.exists()
    code, stdout, _ = invoke(["pretrain", "--preset", "tiny", "--cutoffs", "60,150", "--show-config"], capsys)
    assert code == 0 and json.loads(stdout)["cutoffs"] == [60, 150]


def test_a_users_preset_that_extends_nothing_starts_from_the_defaults_and_must_say_out(tmp_path):
    from interpretable_adv.errors import UsageError
    from interpretable_adv.presets import resolve

    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"pretrain": {}, "train": {"method": "spgd", "sigma": 0.5}}))
    with pytest.raises(UsageError, match="missing key.*out"):
        resolve(str(mine), "train", {})
    config = resolve(str(mine), "train", {"out": str(tmp_path / "o")})
    assert config["sigma"] == 0.5 and config["n_neighbors"] == defaults("train")["n_neighbors"]


def test_run_config_of_an_old_args_json_holds_the_later_keys_defaults(tmp_path):
    from interpretable_adv.checkpoints import run_config

    (tmp_path / "args.json").write_text(json.dumps({"command": "train", "config": {"method": "advt", "eps": 1.0}}))
    config = run_config(str(tmp_path))
    assert config["eps"] == 1.0 and config["lm_term"] is None and config["lm_weight"] == 1.0
    assert config["perturbation_norm"] == methods.get("advt").keys["perturbation_norm"].default
