"""Small builders shared by the tests: hand-made aclImdb trees and archives."""

import io
import os
import tarfile

import chainer
import numpy as np
import pytest


def write_tree(root, reviews):
    """Write ``{"train/pos": {file_id: text_or_bytes}, ...}`` as ``root/aclImdb``.

    Ratings are 8 for pos, 2 for neg and 0 for unsup. Returns ``root``.
    """
    ratings = {"pos": 8, "neg": 2, "unsup": 0}
    for group, docs in reviews.items():
        directory = os.path.join(str(root), "aclImdb", *group.split("/"))
        os.makedirs(directory, exist_ok=True)
        for file_id, text in docs.items():
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            with open(os.path.join(directory, "%d_%d.txt" % (file_id, ratings[group.split("/")[1]])), "wb") as f:
                f.write(data)
    return str(root)


def minimal_reviews():
    """One review in each of the five groups (plus a dev review)."""
    return {
        "train/pos": {0: "good film", 10621: "good dev"},
        "train/neg": {0: "bad film"},
        "test/pos": {0: "good"},
        "test/neg": {0: "bad"},
        "train/unsup": {0: "film good bad"},
    }


def tar_with_members(path, members, mode="w:gz"):
    """An archive with the given ``{name: bytes}`` members (names taken literally)."""
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class KillAt(chainer.training.Extension):
    """Simulates a crash right after the snapshots of iteration ``at``."""

    priority = -1000  # after the snapshot extensions

    def __init__(self, at):
        self.at = at

    def __call__(self, trainer):
        if trainer.updater.iteration == self.at:
            raise KeyboardInterrupt("killed for the test")


def final_snapshot_params(out):
    """The name of ``out``'s newest snapshot and its model parameters."""
    names = [n for n in os.listdir(out) if n.startswith("snapshot_iter_")]
    last = max(names, key=lambda n: int(n.rsplit("_", 1)[1]))
    with np.load(os.path.join(out, last)) as z:
        return last, {k: z[k] for k in z.files if "/model:main/" in k or k.startswith("updater/model:main")}


def straight_then_killed_and_resumed(train, config, kill_at, tmp_path, same_files=()):
    """Run ``train`` straight, then killed after iteration ``kill_at`` and rerun; returns (straight, resumed).

    Asserts that the killed run wrote no results, that both final snapshots hold identical parameters, and that
    every ``.npz`` of ``same_files`` (e.g. ``best_model.npz``) is array-identical in both run directories.
    """
    straight = train(config(tmp_path / "straight"))
    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path / "killed"), extra_extensions=[(KillAt(at=kill_at), (1, "iteration"))])
    assert not os.path.exists(tmp_path / "killed" / "results.json")
    resumed = train(config(tmp_path / "killed"))
    name_a, a = final_snapshot_params(str(tmp_path / "straight"))
    name_b, b = final_snapshot_params(str(tmp_path / "killed"))
    assert name_a == name_b and a
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for name in same_files:
        with np.load(tmp_path / "straight" / name) as x, np.load(tmp_path / "killed" / name) as y:
            assert x.files == y.files
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg="%s %s" % (name, key))
    return straight, resumed


def gpu_available():
    """Whether CuPy is importable and sees a CUDA GPU (for ``skipif`` on GPU tests)."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def adversarial_updater(iterator, optimizer, device, method, neighbors=None, adv_weight=1.0, dropout_masks="fresh",
                        eps=1.0, perturbation_norm="exact", **perturbation_settings):
    """An AdversarialUpdater for ``method`` built from flat keyword arguments (as the tests write them); the
    tests' normalisation is the exact one (||d_b|| = eps) unless they say otherwise."""
    from interpretable_adv.perturbation import Perturbation
    from interpretable_adv.training.updaters import AdversarialUpdater

    perturbation = Perturbation(method, eps, perturbation_norm=perturbation_norm, **perturbation_settings)
    return AdversarialUpdater(iterator, optimizer, device, perturbation, adv_weight=adv_weight, neighbors=neighbors,
                              dropout_masks=dropout_masks)


def invoke(argv, capsys):
    """The real ``iadv`` entry point on ``argv`` -> (exit status, stdout, stderr), argparse's SystemExit included."""
    from interpretable_adv.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tiny_test_config(section, **overrides):
    """The resolved configuration of ``iadv SECTION --preset tiny --test --no-progress`` with ``overrides``."""
    import types

    from interpretable_adv.commands.training_flags import resolve_config

    return resolve_config(types.SimpleNamespace(preset="tiny", test=True, progress=False, **overrides), section)
