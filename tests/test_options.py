"""Options of the reduced presets: the last-word read-out, the ReLU layer's initial bias, alpha warm-up."""

import chainer
import numpy as np
import pytest

from interpretable_adv.nets import Classifier
from interpretable_adv.training.extensions import AlphaSchedule


def _reviews():
    rng = np.random.default_rng(0)
    return [np.append(rng.integers(2, 30, size=n), 0).astype(np.int32) for n in (5, 1, 8)]


def test_last_word_readout_equals_the_eos_model_on_reviews_without_eos():
    np.random.seed(0)
    eos_model = Classifier(30, embed_dim=4, hidden_dim=5, fc_dim=3, dropout=0.0)
    last = Classifier(30, embed_dim=4, hidden_dim=5, fc_dim=3, dropout=0.0, readout="last_word")
    last.copyparams(eos_model)
    reviews = _reviews()
    with chainer.no_backprop_mode():
        ours = last(reviews).array
        expected = eos_model([r[:-1] if len(r) > 1 else r for r in reviews]).array
        differs = eos_model(reviews).array
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    assert not np.allclose(ours, differs)


def test_bad_readout_is_refused():
    with pytest.raises(ValueError, match="readout"):
        Classifier(10, embed_dim=2, hidden_dim=2, fc_dim=2, readout="mean")


def test_fc_bias_sets_the_relu_layer_initial_bias_only():
    model = Classifier(10, embed_dim=2, hidden_dim=3, fc_dim=4, fc_bias=0.5)
    np.testing.assert_array_equal(model.fc.b.array, np.full(4, 0.5, np.float32))
    np.testing.assert_array_equal(model.out.b.array, np.zeros(2, np.float32))


class _Trainer:
    """Just what the alpha extensions touch: the updater's iteration and its optimizer."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.updater = self
        self.iteration = 0

    def get_optimizer(self, name):
        return self.optimizer


def _alphas(extension, steps, lr):
    optimizer = chainer.optimizers.Adam(alpha=lr)
    trainer = _Trainer(optimizer)
    extension.initialize(trainer)
    values = [optimizer.alpha]
    for t in range(1, steps + 1):
        trainer.iteration = t
        extension(trainer)
        values.append(optimizer.alpha)
    return values


def test_alpha_schedule_without_warmup_is_chainer_exponential_shift_exactly():
    ours = _alphas(AlphaSchedule(1e-3, 0.9998), 50, 1e-3)
    chainers = _alphas(chainer.training.extensions.ExponentialShift("alpha", 0.9998), 50, 1e-3)
    assert ours == chainers


def test_alpha_warmup_ramps_linearly_then_decays():
    values = _alphas(AlphaSchedule(1e-3, 0.5, warmup=4), 6, 1e-3)
    expected = [1e-3 * 0.5 ** t * min(1.0, (t + 1) / 4) for t in range(7)]
    assert values == pytest.approx(expected)
    assert values[0] == pytest.approx(0.25e-3)


def test_the_paper_preset_keeps_the_paper_settings():
    """The reduced presets' choices (warm-up, eps scale) never leak into `paper` (Appendix B)."""
    from interpretable_adv.presets import load_preset
    paper = load_preset("paper", "train")
    assert paper["lr_warmup"] == 0 and paper["eps_scale"] == 1.0 and paper["fc_bias"] == 0.0
    assert paper["readout"] == "eos" and paper["lr"] == 0.001 and paper["lr_decay"] == 0.9998
    assert (paper["embed_dim"], paper["hidden_dim"], paper["fc_dim"], paper["batchsize"]) == (256, 1024, 30, 32)
    assert paper["grad_clip"] == 4.0 and paper["max_length"] is None and paper["epoch"] == 30


def test_presets_are_differences_from_paper_and_a_user_preset_may_extend_one(tmp_path):
    """small, tiny and upstream extend paper and hold only what differs; a JSON file may extend any preset."""
    import json
    import os

    from interpretable_adv.errors import UsageError
    from interpretable_adv.presets import load_preset, resolve

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "interpretable_adv", "presets")
    for name in ("small", "tiny", "upstream"):
        content = json.load(open(os.path.join(here, name + ".json")))
        assert content["extends"] == "paper"
        for section in ("pretrain", "train"):
            paper = load_preset("paper", section)
            assert all(paper.get(key) != value for key, value in content[section].items()), (name, section)
            assert set(load_preset(name, section)) == set(paper)
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"extends": "small", "pretrain": {}, "train": {"epoch": 7}}))
    config = resolve(str(mine), "train", {})
    assert config["epoch"] == 7 and config["embed_dim"] == load_preset("small", "train")["embed_dim"]
    loop = tmp_path / "loop.json"
    loop.write_text(json.dumps({"extends": str(loop), "pretrain": {}, "train": {}}))
    with pytest.raises(UsageError, match="a loop"):
        load_preset(str(loop), "train")
