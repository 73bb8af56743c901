"""Safe reading and atomic writing (interpretable_adv.files) and the configuration schema."""

import json
import os

import chainer
import chainer.links as L
import numpy as np
import pytest

from interpretable_adv.errors import UnsafeFile, UsageError
from interpretable_adv.files import (
    atomic_path,
    atomic_write_json,
    json_parses,
    load_npz,
    read_json,
    remove_stale_temporaries,
)
from interpretable_adv.presets import resolve
from interpretable_adv.keys import Key
from interpretable_adv.presets.schema import NON_EXPERIMENT_KEYS, SECTIONS


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_npz_round_trip_and_refusals(tmp_path):
    link = L.Linear(3, 2)
    path = str(tmp_path / "link.npz")
    chainer.serializers.save_npz(path, link)
    copy = L.Linear(3, 2)
    load_npz(path, copy)
    np.testing.assert_array_equal(copy.W.array, link.W.array)

    marker = str(tmp_path / "ran")
    np.savez(str(tmp_path / "evil.npz"), W=np.array([_Payload(marker)], dtype=object), b=link.b.array)
    with pytest.raises(UnsafeFile, match="pickled object array"):
        load_npz(str(tmp_path / "evil.npz"), L.Linear(3, 2))
    assert not os.path.exists(marker)

    with pytest.raises(UsageError, match="does not fit this model"):
        load_npz(path, L.Linear(4, 2))
    np.savez(str(tmp_path / "partial.npz"), W=link.W.array)
    with pytest.raises(UsageError, match="has no entry"):
        load_npz(str(tmp_path / "partial.npz"), L.Linear(3, 2))
    data = open(path, "rb").read()
    open(str(tmp_path / "cut.npz"), "wb").write(data[: len(data) // 2])
    with pytest.raises(UsageError, match="npz"):
        load_npz(str(tmp_path / "cut.npz"), L.Linear(3, 2))


def test_atomic_write_keeps_the_old_file_when_the_writer_dies(tmp_path):
    path = str(tmp_path / "results.json")
    atomic_write_json(path, {"accuracy": 0.9})
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            open(tmp, "w").write('{"accu')   # half a file, then the writer dies
            raise RuntimeError("killed")
    assert read_json(path) == {"accuracy": 0.9}
    assert os.listdir(str(tmp_path)) == ["results.json"]
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_read_json_names_the_file_and_json_parses(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("")
    assert not json_parses(str(path))
    with pytest.raises(UsageError, match="results.json: not valid JSON"):
        read_json(str(path))
    path.write_text(json.dumps({"a": 1}))
    assert json_parses(str(path))


def test_stale_temporaries_are_only_the_killed_writers(tmp_path):
    names = ["tmpsnapshot_iter_40xyz", "tmpbest_model.npzabc", ".results.json.tmp-abc.json", "lm.npz.tmp.npz"]
    keep = ["snapshot_iter_40", "best_model.npz", "results.json", "args.json", "log", "tmp_notes.txt"]
    for name in names + keep:
        open(str(tmp_path / name), "w").close()
    os.makedirs(str(tmp_path / "logk2_8xq0z"))   # Chainer's LogReport writer, killed
    open(str(tmp_path / "logbook1234"), "w").close()   # a file of that shape is not a writer's
    assert sorted(remove_stale_temporaries(str(tmp_path))) == sorted(names + ["logk2_8xq0z"])
    assert sorted(os.listdir(str(tmp_path))) == sorted(keep + ["logbook1234"])


@pytest.mark.parametrize("key, value, ok", [
    (Key("int", low=1), 1, True), (Key("int", low=1), 0, False), (Key("int", low=1), True, False),
    (Key("int", low=1), 2.0, True), (Key("int", low=1), 2.5, False), (Key("int", low=1), "2", False),
    (Key("float", low=0.0, high=1.0, high_open=True), 0.0, True),
    (Key("float", low=0.0, high=1.0, high_open=True), 1.0, False),
    (Key("float", low=0.0, low_open=True), 0.0, False), (Key("float"), float("nan"), False),
    (Key("float"), float("-inf"), False), (Key("float", nullable=True), None, True), (Key("float"), None, False),
    (Key("str", choices=("a", "b")), "b", True), (Key("str", choices=("a", "b")), "c", False),
    (Key("int_list"), [2, 10], True), (Key("int_list"), [10, 2], False), (Key("int_list"), [], False),
    (Key("device"), -1, True), (Key("device"), "@cupy:0", True), (Key("device"), "gpu", False),
])
def test_schema_key_check(key, value, ok):
    if ok:
        key.check(value)
    else:
        with pytest.raises(ValueError):
            key.check(value)


def test_every_preset_passes_the_schema_and_covers_it():
    for preset in ("paper", "small", "tiny", "upstream"):
        for section in ("pretrain", "train"):
            config = resolve(preset, section, {})
            assert set(SECTIONS[section]) <= set(config)
    assert NON_EXPERIMENT_KEYS.isdisjoint({"method", "eps", "seed", "sigma", "n_neighbors", "hidden_dim"})


def test_flag_values_are_named_by_their_flag_and_preset_values_by_their_preset():
    with pytest.raises(UsageError, match=r"^--batchsize must be an integer >= 1, got 0$"):
        resolve("tiny", "train", {"batchsize": 0})
    with pytest.raises(UsageError, match="nosuch"):
        resolve("nosuch", "train", {})
