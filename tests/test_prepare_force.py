"""`iadv prepare` never deletes user data: --force, --out against the sources, bad values.

Every refusal is one line ``iadv prepare: error: ...``, exit status 2, and leaves
both the sources and the output location byte-for-byte as they were.
"""

import hashlib
import json
import os
import shutil

import pytest

from data_prep.pipeline import MARKER, OUTPUT_FILES
from data_prep.synthetic_corpus import pack_archives
from interpretable_adv.cli import main
from tests.helpers import minimal_reviews, write_tree


def snapshot(path):
    """Relative path -> (kind, size, sha256) for everything under ``path``; None when absent."""
    path = str(path)
    if not os.path.lexists(path):
        return None
    if not os.path.isdir(path):
        return {".": _entry(path)}
    listing = {".": ("dir",)}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            listing[os.path.relpath(full, path)] = _entry(full)
    return listing


def _entry(path):
    if os.path.islink(path):
        return ("link", os.readlink(path))
    if os.path.isdir(path):
        return ("dir",)
    with open(path, "rb") as f:
        data = f.read()
    return ("file", len(data), hashlib.sha256(data).hexdigest())


def prepare(capsys, sources, out, *extra, workers="1"):
    argv = ["prepare", *map(str, sources), "--out", str(out), "--quiet", *extra]
    if workers is not None:
        argv += ["--workers", workers]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.strip()


def assert_refused(code, err, *needles):
    assert code == 2, err
    assert "\n" not in err, "error message must be one line: %r" % err
    assert err.startswith("iadv prepare: error: "), err
    for needle in needles:
        assert str(needle) in err, (needle, err)


def no_staging_left(directory):
    directory = str(directory)
    return not os.path.isdir(directory) or not [n for n in os.listdir(directory) if ".tmp-" in n]


@pytest.fixture
def raw(synthetic_raw, tmp_path):
    """A private copy of the synthetic corpus: ``tmp_path/home/D/aclImdb`` (a bug may destroy it)."""
    target = tmp_path / "home" / "D"
    shutil.copytree(synthetic_raw, str(target))
    return target


# --------------------------------------------------------------------------- --out against the sources

@pytest.mark.parametrize("force", [True, False], ids=["force", "no-force"])
def test_out_equal_to_the_source_directory(capsys, raw, force):
    before = snapshot(raw)
    code, err = prepare(capsys, [raw], raw, *(["--force"] if force else []))
    assert_refused(code, err, "%s: is the source %s" % (raw, raw), "choose an --out outside every source")
    assert snapshot(raw) == before
    assert no_staging_left(raw.parent)


@pytest.mark.parametrize("which", ["parent-of-given-dir", "parent-of-aclImdb"])
def test_out_containing_the_source(capsys, raw, which):
    if which == "parent-of-given-dir":
        source, out = raw, raw.parent
    else:
        source, out = raw / "aclImdb", raw
    before = snapshot(out)
    code, err = prepare(capsys, [source], out, "--force")
    assert_refused(code, err, "%s: contains the source" % out)
    assert snapshot(out) == before
    assert no_staging_left(out.parent)


@pytest.mark.parametrize("force", [True, False], ids=["force", "no-force"])
@pytest.mark.parametrize("inside", ["aclImdb/sub", "aclImdb/train/pos/new", "prepared"])
def test_out_inside_the_source(capsys, raw, inside, force):
    out = raw.joinpath(*inside.split("/"))
    before = snapshot(raw)
    code, err = prepare(capsys, [raw], out, *(["--force"] if force else []))
    assert_refused(code, err, "%s: is inside the source %s" % (out, raw))
    assert snapshot(raw) == before
    assert not os.path.lexists(str(out))


def test_out_inside_the_source_through_a_symlink(capsys, raw, tmp_path):
    link = tmp_path / "link"
    os.symlink(str(raw), str(link))
    before = snapshot(raw)
    code, err = prepare(capsys, [raw], link / "aclImdb", "--force")
    assert_refused(code, err, "is inside the source")
    assert snapshot(raw) == before


def test_out_equal_to_or_holding_an_archive(capsys, synthetic_raw, tmp_path):
    archives = pack_archives(os.path.join(synthetic_raw, "aclImdb"), str(tmp_path / "arch"), "split")
    before = snapshot(tmp_path / "arch")
    code, err = prepare(capsys, archives, archives[0], "--force")
    assert_refused(code, err, "%s: is the source" % archives[0])
    code, err = prepare(capsys, archives, tmp_path / "arch", "--force")
    assert_refused(code, err, "%s: contains the source" % (tmp_path / "arch"))
    code, err = prepare(capsys, [tmp_path / "arch"], tmp_path / "arch", "--force")
    assert_refused(code, err, "is the source")
    code, err = prepare(capsys, [tmp_path / "arch"], tmp_path / "arch" / "out")
    assert_refused(code, err, "is inside the source")
    assert snapshot(tmp_path / "arch") == before
    assert sorted(os.listdir(str(tmp_path))) == ["arch"]


def test_out_beside_the_source_is_fine(capsys, raw):
    out = raw.parent / "D-prepared"          # shares a name prefix with the source, not a path prefix
    code, err = prepare(capsys, [raw], out)
    assert code == 0, err
    assert os.path.isfile(str(out / MARKER))


def test_download_into_the_output_is_refused_before_fetching(capsys, monkeypatch, tmp_path):
    def no_fetch(*args, **kwargs):
        raise AssertionError("nothing may be downloaded")

    monkeypatch.setattr("urllib.request.urlopen", no_fetch)
    cache = tmp_path / "cache"
    code = main(["prepare", "--download", "--cache-dir", str(cache), "--out", str(cache), "--force", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert_refused(code, err, "contains the source", "aclImdb_v1.tar.gz")
    assert not os.path.exists(str(cache))


# --------------------------------------------------------------------------- --force

def test_force_refuses_a_directory_that_is_not_a_prepared_dataset(capsys, raw, tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    (user / "figures").mkdir()
    (user / "figures" / "plot.png").write_bytes(b"\x89PNG...")
    before = snapshot(user)
    code, err = prepare(capsys, [raw], user, "--force")
    assert_refused(code, err, "%s: exists and is not a dataset prepared by `iadv prepare` (no %s marker); "
                              "--force only replaces prepared datasets; choose another --out" % (user, MARKER))
    assert snapshot(user) == before
    assert no_staging_left(tmp_path)
    code, err = prepare(capsys, [raw], user)          # without --force: refused as before
    assert_refused(code, err, "is not a dataset prepared by `iadv prepare`", "choose another --out")
    assert snapshot(user) == before


def test_force_refuses_a_lookalike_with_an_extra_file(capsys, raw, tmp_path):
    out = tmp_path / "out"
    assert prepare(capsys, [raw], out)[0] == 0
    os.remove(str(out / MARKER))
    (out / "notes.txt").write_text("my notes")        # not only outputs any more: not recognisably ours
    before = snapshot(out)
    code, err = prepare(capsys, [raw], out, "--force", "--min-df", "3")
    assert_refused(code, err, "no %s marker" % MARKER)
    assert snapshot(out) == before


def test_force_refuses_output_names_without_a_fingerprint(capsys, raw, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text('{"table2": {}}')
    (out / "vocab.json").write_text("[]")
    before = snapshot(out)
    code, err = prepare(capsys, [raw], out, "--force")
    assert_refused(code, err, "no %s marker" % MARKER)
    assert snapshot(out) == before


def test_force_on_an_empty_directory(capsys, raw, tmp_path):
    (tmp_path / "out").mkdir()
    code, err = prepare(capsys, [raw], tmp_path / "out", "--force")
    assert code == 0, err
    assert os.path.isfile(str(tmp_path / "out" / MARKER))


def test_prepared_dataset_carries_the_marker(capsys, raw, tmp_path):
    out = tmp_path / "out"
    assert prepare(capsys, [raw], out)[0] == 0
    marker = json.loads((out / MARKER).read_text())
    stats = json.loads((out / "stats.json").read_text())
    assert marker == {"format": stats["format"], "fingerprint": stats["fingerprint"], "tool": "iadv prepare"}
    assert sorted(os.listdir(str(out))) == sorted(OUTPUT_FILES + (MARKER,))


def test_force_replaces_a_marked_dataset(capsys, raw, tmp_path):
    out = tmp_path / "out"
    assert prepare(capsys, [raw], out)[0] == 0
    first = json.loads((out / "stats.json").read_text())["fingerprint"]
    code, err = prepare(capsys, [raw], out, "--force", "--min-df", "3")
    assert code == 0, err
    second = json.loads((out / MARKER).read_text())["fingerprint"]
    assert second != first and second == json.loads((out / "stats.json").read_text())["fingerprint"]
    assert sorted(os.listdir(str(tmp_path))) == ["home", "out"]    # no staging or old directory left


def test_force_replaces_a_legacy_dataset_without_marker(capsys, raw, tmp_path):
    out = tmp_path / "out"
    assert prepare(capsys, [raw], out)[0] == 0
    os.remove(str(out / MARKER))                       # as written before the marker existed
    code, err = prepare(capsys, [raw], out, "--force", "--min-df", "3")
    assert code == 0, err
    assert json.loads((out / "stats.json").read_text())["options"]["min_df"] == 3
    assert os.path.isfile(str(out / MARKER))


def test_legacy_dataset_is_reused_and_marked(capsys, raw, tmp_path):
    out = tmp_path / "out"
    assert prepare(capsys, [raw], out)[0] == 0
    os.remove(str(out / MARKER))
    npz = {name: snapshot(out / name) for name in OUTPUT_FILES}
    code = main(["prepare", str(raw), "--out", str(out), "--quiet", "--workers", "1"])
    assert code == 0 and "reused" in capsys.readouterr().out
    assert {name: snapshot(out / name) for name in OUTPUT_FILES} == npz
    assert json.loads((out / MARKER).read_text())["fingerprint"] == \
        json.loads((out / "stats.json").read_text())["fingerprint"]


# --------------------------------------------------------------------------- values

@pytest.mark.parametrize("workers", ["0", "-2"])
def test_workers_below_one(capsys, raw, tmp_path, workers):
    before = snapshot(raw)
    code, err = prepare(capsys, [raw], tmp_path / "out", workers=workers)
    assert_refused(code, err, "--workers must be >= 1 (got %s)" % workers)
    assert snapshot(raw) == before and not os.path.exists(str(tmp_path / "out"))
    assert no_staging_left(tmp_path)


def test_workers_checked_before_a_download(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("nothing may be downloaded"))
    code = main(["prepare", "--download", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"),
                 "--workers", "0"])
    assert_refused(code, capsys.readouterr().err.strip(), "--workers")
    assert sorted(os.listdir(str(tmp_path))) == []


def test_workers_above_the_cpu_count_are_capped(capsys, monkeypatch, raw, tmp_path):
    from data_prep import pipeline as prepare_module

    # A pretend 2-CPU machine, so that a regression starts a handful of processes, not thousands.
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    used = []
    real = prepare_module._tokenize_units
    monkeypatch.setattr(prepare_module, "_tokenize_units",
                        lambda units, tokenizer, workers, progress: used.append(workers) or
                        real(units, tokenizer, workers, progress))
    code, err = prepare(capsys, [raw], tmp_path / "out", workers="64")
    assert code == 0, err
    assert "iadv prepare: note: --workers 64 is more than the 2 CPUs; using 2" in err.splitlines()
    assert used == [2]
    assert os.path.isfile(str(tmp_path / "out" / "train.npz"))


@pytest.mark.parametrize("existing", [False, True], ids=["new-out", "over-a-prepared-out"])
def test_min_df_that_keeps_no_vocabulary(capsys, raw, tmp_path, existing):
    out = tmp_path / "out"
    if existing:
        assert prepare(capsys, [raw], out)[0] == 0
    before_out, before_raw = snapshot(out), snapshot(raw)
    code, err = prepare(capsys, [raw], out, "--min-df", "1000000", *(["--force"] if existing else []))
    assert_refused(code, err, "--min-df 1000000 keeps 0 words (the most frequent word occurs in ", "lower it")
    assert snapshot(out) == before_out and snapshot(raw) == before_raw
    assert no_staging_left(tmp_path)


def test_min_df_message_names_the_highest_document_frequency(capsys, raw, tmp_path):
    from data_prep.pipeline import _build_vocabulary, _merge_units, _split_reviews, _tokenize_units
    from data_prep.sources import plan_units, resolve_sources

    units = plan_units(resolve_sources([str(raw)]))
    splits = _split_reviews(_merge_units(_tokenize_units(units, "regex", 1, False)))
    vocab = _build_vocabulary(splits, 1)
    highest = max(vocab["doc_freq"][2:])
    code, err = prepare(capsys, [raw], tmp_path / "out", "--min-df", str(highest + 1))
    assert_refused(code, err, "--min-df %d keeps 0 words (the most frequent word occurs in %d reviews"
                   % (highest + 1, highest))
    code, err = prepare(capsys, [raw], tmp_path / "out", "--min-df", str(highest))
    assert_refused(code, err, "--min-df %d keeps " % highest)   # a few words only: still too few
    assert not os.path.exists(str(tmp_path / "out"))


def test_a_corpus_with_too_few_words(capsys, tmp_path):
    root = write_tree(tmp_path / "raw", minimal_reviews())      # 3 distinct words
    code, err = prepare(capsys, [root], tmp_path / "out", "--min-df", "1")
    assert_refused(code, err, "only 3 distinct words")
    assert not os.path.exists(str(tmp_path / "out"))


def test_synthetic_corpus_prepares_with_the_default_min_df(capsys, tmp_path):
    assert main(["synthetic", "--out", str(tmp_path / "raw")]) == 0
    capsys.readouterr()
    code, err = prepare(capsys, [tmp_path / "raw"], tmp_path / "out")
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["vocab_size"] > 100


# --------------------------------------------------------------------------- iadv synthetic

def _synthetic(capsys, *argv):
    try:
        code = main(["synthetic", *argv])
    except SystemExit as exc:          # argparse errors (the top-level parser may also return 2)
        code = exc.code
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("argv, needle", [
    (["--train", "0"], "argument --train: must be an integer >= 1 and <= 12500, got 0"),
    (["--test", "-1"], "argument --test: must be an integer >= 1 and <= 12500, got -1"),
    (["--unsup", "0"], "argument --unsup: must be an integer >= 1 and <= 50000, got 0"),
    (["--train", "12501"], "argument --train: must be an integer >= 1 and <= 12500, got 12501"),
    (["--unsup", "50001"], "argument --unsup: must be an integer >= 1 and <= 50000, got 50001"),
    (["--train", "two"], "argument --train: must be an integer >= 1 and <= 12500, got 'two'"),
    (["--noise", "1.5"], "argument --noise: must be a finite number >= 0.0 and <= 1.0, got 1.5"),
    (["--noise", "-0.1"], "argument --noise: must be a finite number >= 0.0 and <= 1.0, got -0.1"),
    (["--noise", "nan"], "argument --noise: must be a finite number >= 0.0 and <= 1.0, got nan"),
    (["--noise", "inf"], "argument --noise: must be a finite number >= 0.0 and <= 1.0, got inf"),
    (["--seed", "-1"], "argument --seed: must be an integer >= 0 and <= 4294967295, got -1"),
])
def test_synthetic_bad_values(capsys, tmp_path, argv, needle):
    code, err = _synthetic(capsys, "--out", str(tmp_path / "raw"), *argv)
    assert code == 2
    last = err.splitlines()[-1]
    assert last.startswith("iadv synthetic: error: ") and needle in last, err
    assert not os.path.exists(str(tmp_path / "raw"))


def test_synthetic_edge_values_are_accepted(capsys, tmp_path):
    code, err = _synthetic(capsys, "--out", str(tmp_path / "raw"), "--train", "1", "--test", "1", "--unsup", "1",
                           "--noise", "0")
    assert code == 0, err
    code, err = _synthetic(capsys, "--out", str(tmp_path / "raw2"), "--train", "2", "--noise", "1")
    assert code == 0, err


def test_synthetic_unwritable_out(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _synthetic(capsys, "--out", str(blocker / "raw"))
    assert code == 2 and "\n" not in err and err.startswith("iadv synthetic: error: ") and "cannot write" in err
    assert blocker.read_text() == "x"
