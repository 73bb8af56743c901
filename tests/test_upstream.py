"""Upstream iAdvT logs and checkpoints: parsing, side-by-side reports, LM import (synthetic inputs)."""

import json
import os

import chainer
import chainer.links as L
import numpy as np
import pytest

from interpretable_adv import upstream
from interpretable_adv.cli import main
from interpretable_adv.errors import UsageError
from interpretable_adv.nets import Classifier
from interpretable_adv.checkpoints import load_pretrained

# Dev / test accuracy (percent) per epoch of the synthetic upstream run.
DEV = [81.5, 85.25, 84.0]
TEST = [80.75, 84.5, 85.0]


def upstream_log(epochs=3, start_minute=0, refresh=True):
    """A log in upstream's format: plain prints, then 'DATE TIME,ms : MainThread : INFO : MESSAGE' lines."""
    lines = ["vocab:87008", "train_vocab_size: 66825", "xi_var:15.0"]
    minute = start_minute

    def log(message, second=0):
        lines.append("2018-05-01 10:%02d:%02d,%03d : MainThread : INFO : %s" % (minute, second, 250, message))

    for epoch in range(epochs):
        log("epoch:%d" % epoch)
        if refresh:
            log("start finding nearest words...", 1)
            log("[finish!]", 4)
            lines += ["good\t\tgreat,nice,fine", "bad\t\tawful,poor,worse"]
        log(" [train] sum_loss: %.4f" % (0.6 - 0.1 * epoch), 30)
        log(" [train] apha:%.6f, global_step:%d" % (0.001 * 0.9998 ** (664 * (epoch + 1)), 664 * (epoch + 1)), 30)
        log(" [train] accuracy:%.2f" % (70.0 + epoch), 30)
        log(" [dev] accuracy:%s" % DEV[epoch], 40)
        if epoch == 0 or DEV[epoch] > max(DEV[:epoch]):
            log("%s => %s" % (max(DEV[:epoch]) if epoch else 0, DEV[epoch]), 41)
        log(" [test] accuracy:%s" % TEST[epoch], 50)
        minute += 2
    return "\n".join(lines) + "\n"


def our_run(directory, dev=(0.80, 0.86, 0.85), test=0.855, best=2):
    os.makedirs(directory, exist_ok=True)
    log = []
    for epoch, acc in enumerate(dev, 1):
        log.append({"main/loss": 0.5, "main/accuracy": 0.75, "epoch": epoch, "iteration": 664 * epoch,
                    "elapsed_time": 100.0 * epoch})
        log.append({"validation/main/accuracy": acc, "validation/main/loss": 0.4, "epoch": epoch,
                    "iteration": 664 * epoch, "elapsed_time": 100.0 * epoch + 5})
    with open(os.path.join(directory, "log"), "w") as f:
        json.dump(log, f)
    with open(os.path.join(directory, "results.json"), "w") as f:
        json.dump({"method": "iadvt", "test_accuracy": test, "best_epoch": best, "wall_time_s": 320.0,
                   "tokens_per_sec_mean": 5000.0, "train_tokens_per_epoch": 2_000_000,
                   "adversarial": {"neighbor_refreshes": 3}}, f)
    with open(os.path.join(directory, "args.json"), "w") as f:
        json.dump({"config": {"method": "iadvt", "preset": "upstream", "epoch": 3, "n_neighbors": 10}}, f)
    return str(directory)


def test_upstream_log_is_read_epoch_by_epoch(tmp_path):
    path = tmp_path / "iadvt.log"
    path.write_text(upstream_log())
    run = upstream.parse_upstream_log(str(path))
    assert [e["epoch"] for e in run.epochs] == [1, 2, 3]            # upstream counts from 0
    assert [e["dev"] for e in run.epochs] == DEV and [e["test"] for e in run.epochs] == TEST
    assert [e["improved"] for e in run.epochs] == [True, True, False]
    assert [e["global_step"] for e in run.epochs] == [664, 1328, 1992]
    assert run.epochs[0]["train_loss"] == pytest.approx(0.6)
    # wall time at each epoch's last line (the test line, 50 s into its 2-minute slot) since the first line
    assert [e["seconds"] for e in run.epochs] == pytest.approx([50.0, 170.0, 290.0])
    assert run.summary["neighbor_refreshes"] == 3 and run.summary["neighbor_refresh_s"] == pytest.approx(9.0)
    assert run.summary["neighbor_sample_lines"] == 6
    assert run.meta == {"vocab": 87008, "train_vocab_size": 66825, "xi_var": 15.0}
    assert run.best_dev()["epoch"] == 2


@pytest.mark.parametrize("corruption, message", [
    (lambda t: t.replace(" [dev] accuracy:85.25", " [dev] accuracy:eighty"), "malformed '[dev] accuracy'"),
    (lambda t: t.replace("2018-05-01 10:02:00,250 : MainThread : INFO : epoch:1", "2018-05-01 10:02 epoch:1"),
     "starts like a log line"),
    (lambda t: t.replace(" [train] apha:", " [train] apha:x"), "malformed '[train] apha'"),
    (lambda t: "\n".join(line for line in t.splitlines() if "[dev]" not in line), "no epoch with a '[dev] accuracy'"),
    (lambda t: "\n".join(line for line in t.splitlines() if "epoch:0" not in line), "before the first 'epoch:N'"),
    (lambda t: "", "no epoch with a '[dev] accuracy'"),
])
def test_malformed_upstream_logs_fail_with_the_line(tmp_path, corruption, message):
    path = tmp_path / "bad.log"
    path.write_text(corruption(upstream_log()))
    with pytest.raises(upstream.LogFormatError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        upstream.parse_upstream_log(str(path))
    assert str(path) in str(info.value)


def test_binary_file_is_not_a_log(tmp_path):
    path = tmp_path / "model.log"
    path.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(upstream.LogFormatError, match="not a text log"):
        upstream.parse_upstream_log(str(path))


def test_our_run_reads_dev_per_epoch_and_the_single_test(tmp_path):
    run = upstream.parse_our_run(our_run(tmp_path / "iadvt"))
    assert [e["dev"] for e in run.epochs] == pytest.approx([80.0, 86.0, 85.0])
    assert [e["test"] for e in run.epochs] == [None, pytest.approx(85.5), None]
    assert [e["seconds"] for e in run.epochs] == [105.0, 205.0, 305.0]
    assert run.meta["method"] == "iadvt" and run.summary["neighbor_refreshes"] == 3


def test_comparison_report_side_by_side(tmp_path):
    path = tmp_path / "iadvt.log"
    path.write_text(upstream_log())
    ours = upstream.parse_our_run(our_run(tmp_path / "iadvt"))
    theirs = upstream.parse_upstream_log(str(path))
    text = upstream.comparison_markdown(ours, [theirs], tokens_per_epoch=2_000_000)
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in text.splitlines()
            if line.startswith("| ") and " | " in line}
    assert [c.strip(" |") for c in rows["best dev accuracy"]] == ["86.00", "85.25", "+0.75"]
    assert [c.strip(" |") for c in rows["test accuracy of the best-dev model"]] == ["85.50", "84.50", "+1.00"]
    # upstream: 3 epochs x 2M tokens over 290 s of log
    assert rows["tokens/s"][1].strip(" |") == "%.0f" % (6_000_000 / 290.0)
    assert "## iadvt.log (upstream" in text and "| 2 | 85.25 | 84.50 | 170 |" in text
    written = upstream.write_comparison(ours, [theirs], str(tmp_path / "cmp"), 2_000_000)
    assert sorted(os.path.basename(p) for p in written) == ["comparison.json", "comparison.md", "comparison.png"]
    assert (tmp_path / "cmp" / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(tmp_path / "cmp")) == ["comparison.json", "comparison.md", "comparison.png"]


def test_compare_command_writes_nothing_when_a_log_is_malformed(tmp_path, capsys):
    good, bad = tmp_path / "good.log", tmp_path / "bad.log"
    good.write_text(upstream_log())
    bad.write_text(upstream_log().replace("[test] accuracy:84.5", "[test] accuracy:"))
    run = our_run(tmp_path / "iadvt")
    out = tmp_path / "cmp"
    assert main(["compare-upstream", "--ours", run, "--upstream", str(good), str(bad), "--out", str(out)]) == 2
    assert "malformed '[test] accuracy'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["compare-upstream", "--ours", run, "--upstream", str(good), "--out", str(out)]) == 0
    assert (out / "comparison.md").is_file()


# ----------------------------------------------------------------------------- LM import

class UpstreamLM(chainer.Chain):
    """Parameter layout of upstream's pretraining checkpoint: embed/W, rnn/0/w0..b7, plus an output layer."""

    def __init__(self, n_vocab, dim, hidden):
        super().__init__()
        with self.init_scope():
            self.embed = L.EmbedID(n_vocab, dim)
            self.rnn = L.NStepLSTM(1, dim, hidden, 0.0)
            self.out = L.Linear(hidden, n_vocab)


def _upstream_checkpoint(tmp_path, words, dim=4, hidden=6, seed=0):
    np.random.seed(seed)
    model = UpstreamLM(len(words), dim, hidden)
    path = str(tmp_path / "upstream_lm.npz")
    chainer.serializers.save_npz(path, model)
    return model, path


OUR_WORDS = ["<eos>", "<unk>", "the", "movie", "good", "bad"]
UPSTREAM_WORDS = ["<eos>", "<unk>", "movie", "bad", "extra", "the", "good"]   # upstream's order, one extra word


def test_imported_lm_gives_the_classifier_upstream_rows_and_lstm(tmp_path):
    model, path = _upstream_checkpoint(tmp_path, UPSTREAM_WORDS)
    assert {"embed/W", "rnn/0/w0", "rnn/0/w7", "rnn/0/b7"} <= set(np.load(path).files)   # documented names
    out = str(tmp_path / "ours" / "lm.npz")
    summary = upstream.import_upstream_lm(path, UPSTREAM_WORDS, OUR_WORDS, "hash0", out)
    assert summary["rows"] == 6 and summary["unused_upstream_rows"] == 1
    clf = Classifier(len(OUR_WORDS), embed_dim=4, hidden_dim=6)
    load_pretrained(clf, out, "hash0")
    for ours_id, word in enumerate(OUR_WORDS):
        np.testing.assert_array_equal(clf.embed.W.array[ours_id], model.embed.W.array[UPSTREAM_WORDS.index(word)])
    # Same sentence through upstream's NStepLSTM (upstream ids) and our classifier's LSTM (our ids).
    sentence = ["the", "good", "movie", "<eos>"]
    with chainer.using_config("train", False):
        x_up = model.embed(np.array([UPSTREAM_WORDS.index(w) for w in sentence], np.int32))
        hy_up, _, _ = model.rnn(None, None, [x_up])
        x_ours = clf.embed(np.array([OUR_WORDS.index(w) for w in sentence], np.int32))
        hy_ours, _, _ = clf.rnn(None, None, [x_ours])
    np.testing.assert_allclose(hy_ours.array, hy_up.array, rtol=1e-6, atol=1e-7)


def test_import_refuses_missing_words_wrong_shapes_and_wrong_vocabularies(tmp_path):
    _, path = _upstream_checkpoint(tmp_path, UPSTREAM_WORDS)
    out = str(tmp_path / "lm.npz")
    with pytest.raises(upstream.UpstreamImportError, match="1 of our 7 words have no upstream row .*'zebra'"):
        upstream.import_upstream_lm(path, UPSTREAM_WORDS, OUR_WORDS + ["zebra"], "h", out)
    with pytest.raises(upstream.UpstreamImportError, match="has 6 words but .* has 7 embedding rows"):
        upstream.import_upstream_lm(path, UPSTREAM_WORDS[:-1], OUR_WORDS, "h", out)
    arrays = dict(np.load(path))
    arrays["rnn/0/w4"] = arrays["rnn/0/w4"][:, :3]
    np.savez(str(tmp_path / "bad_shape.npz"), **arrays)
    with pytest.raises(upstream.UpstreamImportError, match=r"rnn/0/w4 \(6, 3\) \(expected \(6, 6\)\)"):
        upstream.import_upstream_lm(str(tmp_path / "bad_shape.npz"), UPSTREAM_WORDS, OUR_WORDS, "h", out)
    del arrays["rnn/0/b3"]
    np.savez(str(tmp_path / "no_key.npz"), **arrays)
    with pytest.raises(upstream.UpstreamImportError, match="no rnn/0/b3"):
        upstream.import_upstream_lm(str(tmp_path / "no_key.npz"), UPSTREAM_WORDS, OUR_WORDS, "h", out)
    (tmp_path / "not.npz").write_bytes(b"HDF5 but not npz")
    with pytest.raises(UsageError, match="not a readable .npz file"):
        upstream.import_upstream_lm(str(tmp_path / "not.npz"), UPSTREAM_WORDS, OUR_WORDS, "h", out)
    assert not os.path.exists(out) and not os.path.exists(out + ".tmp.npz")


def test_word_lists_in_every_accepted_form(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(UPSTREAM_WORDS))
    (tmp_path / "map.json").write_text(json.dumps({w: i for i, w in enumerate(UPSTREAM_WORDS)}))
    (tmp_path / "words.txt").write_text("\n".join(UPSTREAM_WORDS) + "\n")
    (tmp_path / "gap.json").write_text(json.dumps({"a": 0, "b": 2}))
    for name in ("list.json", "map.json", "words.txt"):
        assert upstream.read_word_list(str(tmp_path / name)) == UPSTREAM_WORDS
    with pytest.raises(upstream.UpstreamImportError, match="without gaps"):
        upstream.read_word_list(str(tmp_path / "gap.json"))


def test_import_command_with_a_prepared_dataset(synthetic_prepared, tmp_path, capsys):
    from interpretable_adv.data import PreparedData

    words = PreparedData(synthetic_prepared).vocab.words
    shuffled = [words[0], words[1]] + list(np.random.default_rng(0).permutation(words[2:]))
    _, path = _upstream_checkpoint(tmp_path, shuffled)
    (tmp_path / "upstream_words.txt").write_text("\n".join(shuffled) + "\n")
    out = str(tmp_path / "lm" / "lm.npz")
    assert main(["import-upstream-lm", path, "--upstream-vocab", str(tmp_path / "upstream_words.txt"),
                 "--data", synthetic_prepared, "-o", out]) == 0
    assert "iadv train --preset upstream --pretrained" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["import-upstream-lm", path, "--data", synthetic_prepared, "-o", out]) == 2   # ids, not words
    assert "pass --upstream-vocab" in capsys.readouterr().err
    assert main(["import-upstream-lm", path, "--upstream-vocab", str(tmp_path / "none.txt"),
                 "--data", synthetic_prepared, "-o", out]) == 2


# ----------------------------------------------------------------------------- the upstream preset

def test_upstream_preset_mirrors_the_upstream_command():
    from interpretable_adv.presets import resolve
    from interpretable_adv.perturbation import Perturbation

    def resolved_eps(config):
        return Perturbation.from_config(config).eps

    train = resolve("upstream", "train", {})
    assert (train["method"], train["n_neighbors"], train["neighbor_interval"], train["neighbor_interval_unit"]) == \
        ("iadvt", 10, 1, "epoch")
    assert (train["perturbation_norm"], train["grad_clip"], train["lr"], train["lr_decay"]) == \
        ("upstream", 5.0, 0.001, 0.9998)
    assert (train["batchsize"], train["epoch"], train["max_length"], train["dropout_masks"]) == (32, 30, None, "fresh")
    assert resolved_eps(train) == 15.0 and resolved_eps(dict(train, method="advt")) == 5.0
    assert resolve("upstream", "pretrain", {})["bptt_len"] == 100
    assert train["data"] == resolve("upstream", "pretrain", {})["data"] == "runs/data/imdb-upstream"


def test_upstream_preset_trains_with_one_refresh_per_epoch(synthetic_prepared, tmp_path):
    from interpretable_adv.presets import resolve
    from interpretable_adv.training.classifier import train_classifier

    config = resolve("upstream", "train", dict(data=synthetic_prepared, out=str(tmp_path / "run"), embed_dim=8,
                                               hidden_dim=8, epoch=2, device=-1, eval_batchsize=64, progress=False))
    results = train_classifier(config)
    assert results["adversarial"]["eps"] == 15.0
    assert results["adversarial"]["neighbor_refreshes"] == 1 + 2          # at the start, then after each epoch
    run = upstream.parse_our_run(str(tmp_path / "run"))
    assert [e["epoch"] for e in run.epochs] == [1, 2] and run.meta["n_neighbors"] == 10


def test_checkpoint_names_stand_in_for_a_lost_log(tmp_path, capsys):
    saved = tmp_path / "upstream_models"
    saved.mkdir()
    for name in ("imdb_iadv_0_dev_acc_85.1_test_acc_84.7.model", "imdb_iadv_2_dev_acc_87.25_test_acc_86.9.model",
                 "imdb_adv_1_dev_acc_86.0_test_acc_85.5.model", "notes.txt", "imdb_iadv_x_dev_acc_1_test_acc_2.model"):
        (saved / name).write_bytes(b"HDF5 stand-in")
    runs = upstream.parse_upstream_checkpoints(str(saved))
    assert [r.name for r in runs] == ["imdb_adv", "imdb_iadv"]
    iadv = runs[1]
    assert [(e["epoch"], e["dev"], e["test"]) for e in iadv.epochs] == [(1, 85.1, 84.7), (3, 87.25, 86.9)]
    assert iadv.best_dev()["epoch"] == 3 and all(e["seconds"] is None for e in iadv.epochs)
    out = tmp_path / "cmp"
    assert main(["compare-upstream", "--ours", our_run(tmp_path / "iadvt"), "--upstream", str(saved),
                 "--out", str(out)]) == 0
    text = (out / "comparison.md").read_text()
    assert "| 3 | 87.25 | 86.90 | - |" in text and "## imdb_adv (upstream" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(upstream.LogFormatError, match="no file named"):
        upstream.parse_upstream_checkpoints(str(empty))
