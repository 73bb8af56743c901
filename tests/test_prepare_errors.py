"""Every bad input gives a one-line error naming the file, exit status 2, and no output."""

import os
import urllib.error

import pytest

from data_prep.synthetic_corpus import pack_archives
from interpretable_adv.cli import main
from tests.helpers import minimal_reviews, tar_with_members, write_tree


def run_prepare(capsys, sources, out, *extra):
    code = main(["prepare", *map(str, sources), "--out", str(out), "--quiet", "--workers", "1", *extra])
    captured = capsys.readouterr()
    return code, captured.err.strip()


def assert_clean_failure(code, err, out, *needles):
    assert code == 2
    assert "\n" not in err, "error message must be one line: %r" % err
    assert err.startswith("iadv prepare: error: ")
    for needle in needles:
        assert str(needle) in err, (needle, err)
    assert not os.path.exists(str(out)), "no output may be left behind"
    parent = os.path.dirname(str(out))
    if os.path.isdir(parent):
        assert not [n for n in os.listdir(parent) if ".tmp-" in n], "staging directory left behind"


@pytest.fixture
def split_archives(synthetic_raw, tmp_path):
    return pack_archives(os.path.join(synthetic_raw, "aclImdb"), str(tmp_path / "archives"), "split")


def test_missing_path(capsys, tmp_path):
    missing = tmp_path / "nowhere.tar.gz"
    code, err = run_prepare(capsys, [missing], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", missing, "no such file or directory")


def test_no_source_at_all(capsys, tmp_path):
    code, err = run_prepare(capsys, [], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", "no IMDB source given")


def test_truncated_archive(capsys, tmp_path, split_archives):
    train = next(p for p in split_archives if "train" in p)
    data = open(train, "rb").read()
    with open(train, "wb") as f:
        f.write(data[: len(data) // 2])
    code, err = run_prepare(capsys, split_archives, tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", train, "corrupt or truncated archive")


def test_corrupt_archive(capsys, tmp_path, synthetic_raw):
    (path,) = pack_archives(os.path.join(synthetic_raw, "aclImdb"), str(tmp_path / "arch"), "single")
    data = bytearray(open(path, "rb").read())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0xFF
    open(path, "wb").write(bytes(data))
    code, err = run_prepare(capsys, [path], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", path, "corrupt or truncated archive")


def test_not_an_archive(capsys, tmp_path):
    path = tmp_path / "reviews.zip"
    path.write_bytes(b"PK\x03\x04")
    code, err = run_prepare(capsys, [path], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", path, "not a tar archive")


def test_archive_without_a_needed_split(capsys, tmp_path, split_archives):
    without_unsup = [p for p in split_archives if "unsup" not in p]
    code, err = run_prepare(capsys, without_unsup, tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", "aclImdb/train/unsup")


def test_directory_with_wrong_layout(capsys, tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    code, err = run_prepare(capsys, [tmp_path / "stuff"], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", tmp_path / "stuff", "wrong layout")


def test_archive_with_wrong_layout(capsys, tmp_path):
    path = tar_with_members(str(tmp_path / "x.tar.gz"), {"imdb/train/pos/0_9.txt": b"good"})
    code, err = run_prepare(capsys, [path], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", path, "wrong layout")


def test_bad_file_name_in_review_directory(capsys, tmp_path):
    root = write_tree(tmp_path / "raw", minimal_reviews())
    bad = os.path.join(root, "aclImdb", "train", "pos", "review.txt")
    open(bad, "w").write("good")
    code, err = run_prepare(capsys, [root], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", bad, "wrong layout", "ID_RATING")


def test_non_utf8_review(capsys, tmp_path):
    reviews = minimal_reviews()
    reviews["test/neg"][0] = b"caf\xe9 bad"
    root = write_tree(tmp_path / "raw", reviews)
    code, err = run_prepare(capsys, [root], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", os.path.join("test", "neg", "0_2.txt"),
                         "not valid UTF-8", "0xe9", "offset 3")


@pytest.mark.parametrize("text", ["", "  !!! ...  "])
def test_empty_review(capsys, tmp_path, text):
    reviews = minimal_reviews()
    reviews["train/unsup"][3] = text
    root = write_tree(tmp_path / "raw", reviews)
    code, err = run_prepare(capsys, [root], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", os.path.join("unsup", "3_0.txt"), "empty review")


def test_unwritable_output_directory(capsys, tmp_path):
    root = write_tree(tmp_path / "raw", minimal_reviews())
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a file")
    out = blocker / "prepared"
    code, err = run_prepare(capsys, [root], out)
    assert code == 2 and "\n" not in err
    assert str(out) in err and "cannot write" in err
    assert blocker.read_text() == "I am a file"


def test_unsafe_member_path(capsys, tmp_path):
    path = tar_with_members(str(tmp_path / "evil.tar.gz"),
                            {"aclImdb/train/pos/0_9.txt": b"good", "../../evil.txt": b"pwned"})
    code, err = run_prepare(capsys, [path], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", path, "unsafe member path")
    assert not (tmp_path.parent / "evil.txt").exists()


def test_duplicate_review_ids_across_sources(capsys, tmp_path, synthetic_raw, split_archives):
    code, err = run_prepare(capsys, split_archives + [synthetic_raw], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", "appears more than once")


def test_refuses_to_overwrite_a_different_dataset(capsys, tmp_path, synthetic_raw):
    root = synthetic_raw   # enough words for the vocabulary-size check
    assert run_prepare(capsys, [root], tmp_path / "out")[0] == 0
    code, err = run_prepare(capsys, [root], tmp_path / "out", "--min-df", "1")
    assert code == 2 and "--force" in err
    assert run_prepare(capsys, [root], tmp_path / "out", "--min-df", "1", "--force")[0] == 0


def test_failure_while_writing_leaves_nothing(monkeypatch, tmp_path):
    from data_prep import pipeline as prepare_module

    def broken_write(staging, *args, **kwargs):
        open(os.path.join(staging, "vocab.json"), "w").write("{half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepare_module, "_write", broken_write)
    root = write_tree(tmp_path / "raw", minimal_reviews())
    with pytest.raises(OSError):
        prepare_module.prepare_imdb([root], str(tmp_path / "out"), workers=1, progress=False, log=lambda m: None,
                                    min_vocab=1)
    assert sorted(os.listdir(tmp_path)) == ["raw"]


def test_download_without_network_says_so(capsys, monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    code = main(["prepare", "--download", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "aclImdb_v1.tar.gz" in err and "download failed" in err and "no network access" in err
    assert not os.listdir(str(tmp_path / "cache"))


def test_download_checksum_mismatch(capsys, monkeypatch, tmp_path):
    import io

    class FakeResponse(io.BytesIO):
        headers = {"Content-Length": "5"}

    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: FakeResponse(b"bogus"))
    code = main(["prepare", "--download", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "checksum mismatch" in err
    assert not os.listdir(str(tmp_path / "cache"))


def _plain_tar(tmp_path, synthetic_raw):
    import tarfile

    path = str(tmp_path / "corpus.tar")
    with tarfile.open(path, "w") as tar:
        tar.add(os.path.join(synthetic_raw, "aclImdb"), arcname="aclImdb")
    return path


def test_garbage_header_in_the_middle_is_not_taken_as_the_end(capsys, tmp_path, synthetic_raw):
    path = _plain_tar(tmp_path, synthetic_raw)
    data = bytearray(open(path, "rb").read())
    middle = (len(data) // 2) // 512 * 512
    data[middle:middle + 512] = b"\x07" * 512   # neither a header nor zeros
    open(path, "wb").write(bytes(data))
    code, err = run_prepare(capsys, [path], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", path, "corrupt or truncated archive")


def test_plain_tar_cut_at_a_block_boundary(capsys, tmp_path, synthetic_raw):
    path = _plain_tar(tmp_path, synthetic_raw)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: (len(data) // 3) // 512 * 512])
    code, err = run_prepare(capsys, [path], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", path, "corrupt or truncated archive")


def test_gzip_without_its_trailer(capsys, tmp_path, synthetic_raw):
    (path,) = pack_archives(os.path.join(synthetic_raw, "aclImdb"), str(tmp_path / "arch"), "single")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-8])   # CRC32 and size trailer removed
    code, err = run_prepare(capsys, [path], tmp_path / "out")
    assert_clean_failure(code, err, tmp_path / "out", path, "corrupt or truncated archive")
