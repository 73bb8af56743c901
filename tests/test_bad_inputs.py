"""Bad input, walked through the real ``iadv`` entry point: one line, exit 2, nothing written.

Every case of :data:`CASES` runs ``interpretable_adv.cli.main(argv)`` and must
give exit status 2, exactly one line on stderr starting with
``iadv COMMAND: error:``, no traceback, and leave every file under the test's
working tree (data, runs, outputs) exactly as it was. The hostile files hold
an object array whose unpickling would create a marker file; that file must
never appear. Tests of the legitimate paths next to each refusal (an older
snapshot used when the newest is truncated, a resumed run with only a
non-experiment flag changed) are at the end.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from interpretable_adv.cli import main
from tests.helpers import invoke, tiny_test_config

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER_NAME = "PAYLOAD_RAN"


class Payload:
    """Unpickling this object creates the marker file: proof that a load path unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_object_array(path, key, marker):
    """Rewrite the .npz ``path`` with entry ``key`` replaced by an object array holding :class:`Payload`."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    assert key in arrays, (key, sorted(arrays)[:20])
    arrays[key] = np.array([Payload(marker)], dtype=object)
    os.remove(path)
    np.savez(path[:-4] if path.endswith(".npz") else path, **arrays)
    if not path.endswith(".npz"):   # np.savez appends .npz to a name without it
        os.replace(path + ".npz", path)


def tree_state(root):
    """``{relative path: (size, mtime_ns)}`` of everything under ``root`` (directories too)."""
    state = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            info = os.lstat(path)
            state[os.path.relpath(path, root)] = (info.st_size if name in files else -1, info.st_mtime_ns)
    return state


@pytest.fixture(scope="module")
def world(tmp_path_factory, synthetic_prepared, synthetic_raw):
    """A finished tiny LM and SPGD run, a second dataset, and hostile copies of every loadable file."""
    from interpretable_adv.training.classifier import train_classifier
    from interpretable_adv.training.lm import train_language_model

    root = tmp_path_factory.mktemp("world")
    marker = str(root / MARKER_NAME)

    runs = root / "runs"
    train_language_model(tiny_test_config("pretrain", data=synthetic_prepared, out=str(runs / "lm")))
    train_classifier(tiny_test_config("train", data=synthetic_prepared, out=str(runs / "spgd"), method="spgd",
                                      pretrained=str(runs / "lm" / "lm.npz"), snapshot_interval=3))
    snapshots = sorted(n for n in os.listdir(str(runs / "spgd")) if n.startswith("snapshot_iter_"))
    assert snapshots, "the fixture run must leave snapshots"

    from data_prep.pipeline import prepare_imdb
    other_data = str(root / "other_data")   # same reviews, another vocabulary (min_df 3)
    prepare_imdb([synthetic_raw], other_data, min_df=3, workers=1, progress=False, log=lambda m: None)

    hostile = root / "hostile"
    hostile.mkdir()
    evil_lm = str(hostile / "evil_lm.npz")
    shutil.copy(str(runs / "lm" / "lm.npz"), evil_lm)
    plant_object_array(evil_lm, "embed/W", marker)
    evil_meta_lm = str(hostile / "evil_meta_lm.npz")
    shutil.copy(str(runs / "lm" / "lm.npz"), evil_meta_lm)
    plant_object_array(evil_meta_lm, "meta/vocab_hash", marker)

    evil_snapshot = str(hostile / "snapshot_evil")
    shutil.copy(os.path.join(str(runs / "spgd"), snapshots[-1]), evil_snapshot)
    plant_object_array(evil_snapshot, "updater/model:main/predictor/embed/W", marker)

    evil_runs = hostile / "evil_runs"   # a runs directory whose spgd/best_model.npz is hostile
    shutil.copytree(str(runs), str(evil_runs))
    plant_object_array(str(evil_runs / "spgd" / "best_model.npz"), "embed/W", marker)

    evil_autoload = hostile / "evil_autoload"   # a run directory whose newest snapshot is hostile
    shutil.copytree(str(runs / "spgd"), str(evil_autoload))
    shutil.copy(evil_snapshot, str(evil_autoload / "snapshot_iter_999999"))

    corrupt_args = hostile / "corrupt_args"   # a resumable run whose args.json is corrupt
    shutil.copytree(str(runs / "spgd"), str(corrupt_args))
    (corrupt_args / "args.json").write_text('{"config": {"method": ')

    evil_checkpoint = str(hostile / "upstream.npz")   # complete, but embed/W is hostile
    with np.load(str(runs / "lm" / "lm.npz")) as z:
        np.savez(evil_checkpoint, **{k: z[k] for k in z.files if k.startswith("rnn/")},
                 **{"embed/W": np.array([Payload(marker)], dtype=object)})

    seeds = root / "seeds"   # a seed-aggregation layout for `iadv summarize`
    seeds.mkdir()
    os.symlink(str(runs), str(seeds / "seed0"))

    files = root / "files"
    files.mkdir()
    (files / "a_file").write_text("not a directory")
    (files / "list.json").write_text("[1, 2, 3]")
    (files / "not_json.json").write_text("{ nope")
    preset = json.load(open(os.path.join(HERE, "..", "interpretable_adv", "presets", "tiny.json")))
    unknown = {s: dict(preset[s], bogus_key=1) for s in ("pretrain", "train")}
    (files / "unknown_key.json").write_text(json.dumps(unknown))
    string_batch = {s: dict(preset[s], batchsize="32") for s in ("pretrain", "train")}
    (files / "string_batch.json").write_text(json.dumps(string_batch))
    big_cutoffs = {s: dict(preset[s]) for s in ("pretrain", "train")}
    big_cutoffs["pretrain"]["cutoffs"] = [50, 100000]
    (files / "big_cutoffs.json").write_text(json.dumps(big_cutoffs))
    (files / "bad.log").write_text("this is not an upstream log\n")
    (root / "empty").mkdir()

    # issue 21: a run set mixing vocabularies, a seed whose Table 1 lacks keys, upstream inputs with bad values
    other_run = str(root / "other_run")   # a baseline trained on the other vocabulary
    train_classifier(tiny_test_config("train", data=other_data, out=other_run, method="baseline"))
    mixed = root / "mixed_runs"   # runs/ plus an advt row trained on other_data
    shutil.copytree(str(runs), str(mixed))
    shutil.copytree(other_run, str(mixed / "advt"))
    mixed_seeds = root / "mixed_seeds"
    mixed_seeds.mkdir()
    os.symlink(str(runs), str(mixed_seeds / "seed0"))
    os.symlink(str(mixed), str(mixed_seeds / "seed1"))
    keyless = root / "keyless_seeds"   # seed0's eval/results.json has no Table 1 figures
    shutil.copytree(str(runs), str(keyless / "seed0"))
    (keyless / "seed0" / "eval").mkdir()
    (keyless / "seed0" / "eval" / "results.json").write_text(json.dumps({"table1": {"original": {}}}))
    with np.load(str(runs / "lm" / "lm.npz")) as z:
        lstm = {k: z[k] for k in z.files if k.startswith("rnn/")}
        embed = z["embed/W"]
    np.savez(str(files / "upstream_good.npz"), **lstm, **{"embed/W": embed})
    np.savez(str(files / "upstream_nan.npz"), **lstm, **{"embed/W": np.full_like(embed, np.nan)})
    (files / "binary_vocab.txt").write_bytes(bytes(range(256)) * 4)
    log = ("vocab:87008\n"
           "2024-01-01 10:00:00,000 : MainThread : INFO : epoch:0\n"
           "2024-01-01 10:00:10,000 : MainThread : INFO :  [dev] accuracy:80.0\n"
           "2024-01-01 10:00:20,000 : MainThread : INFO :  [test] accuracy:79.5\n")
    (files / "twice.log").write_text(log + log.split("\n", 1)[1])
    (files / "bad_time.log").write_text(log.replace("2024-01-01 10:00:10", "2024-13-45 25:61:10"))
    (files / "nan.log").write_text(log.replace("accuracy:80.0", "accuracy:nan"))
    for name, dev, test in (("nan_ckpt", "nan", "50.0"), ("inf_ckpt", "80.0", "inf"), ("big_ckpt", "180.0", "50")):
        (files / name).mkdir()
        (files / name / ("iadvt_0_dev_acc_%s_test_acc_%s.model" % (dev, test))).write_bytes(b"")
    (files / "twin_ckpt").mkdir()
    for dev in ("80.0", "81.0"):
        (files / "twin_ckpt" / ("iadvt_0_dev_acc_%s_test_acc_79.0.model" % dev)).write_bytes(b"")
    (root / "a_directory").mkdir()
    return {"root": str(root), "data": synthetic_prepared, "other_data": other_data, "runs": str(runs),
            "lm": str(runs / "lm" / "lm.npz"), "marker": marker, "hostile": str(hostile),
            "evil_lm": evil_lm, "evil_meta_lm": evil_meta_lm, "evil_snapshot": evil_snapshot,
            "evil_runs": str(evil_runs), "evil_autoload": str(evil_autoload), "corrupt_args": str(corrupt_args),
            "evil_checkpoint": evil_checkpoint, "seeds": str(seeds), "files": str(files),
            "empty": str(root / "empty"), "out": str(root / "new_out"), "raw": synthetic_raw,
            "mixed": str(mixed), "mixed_seeds": str(mixed_seeds), "keyless_seeds": str(keyless),
            "a_directory": str(root / "a_directory")}


TRAIN = "train --preset tiny --data {data} -o {out} --no-progress"
PRETRAIN = "pretrain --preset tiny --data {data} -o {out} --no-progress"
EVALUATE = "evaluate --runs {runs} --data {data} -o {out} --no-progress --sample 5"
INTERPRET = "interpret --runs {runs} --data {data} --color never"
TUNE = "tune --preset tiny --data {data} --runs {out} --study s --method advt"

# (command line, a fragment the one-line message must contain)
CASES = [
    # iadv train: numbers out of range (each used to crash, train nonsense or ascend the gradient)
    (TRAIN + " --batchsize 0", "--batchsize"),
    (TRAIN + " --batchsize abc", "--batchsize"),
    (TRAIN + " --epoch 0", "--epoch"),
    (TRAIN + " --hidden-dim 0", "--hidden-dim"),
    (TRAIN + " --embed-dim -3", "--embed-dim"),
    (TRAIN + " --snapshot-interval 0", "--snapshot-interval"),
    (TRAIN + " --log-interval 0", "--log-interval"),
    (TRAIN + " --eval-batchsize 0", "--eval-batchsize"),
    (TRAIN + " --sigma 1.5", "--sigma"),
    (TRAIN + " --sigma -0.1", "--sigma"),
    (TRAIN + " --n-neighbors 0", "--n-neighbors"),
    (TRAIN + " --method spgd --n-neighbors 100000", "--n-neighbors"),
    (TRAIN + " --dropout 1.5", "--dropout"),
    (TRAIN + " --dropout 1", "--dropout"),
    (TRAIN + " --grad-clip -1", "--grad-clip"),
    (TRAIN + " --grad-clip 0", "--grad-clip"),
    (TRAIN + " --lr nan", "--lr"),
    (TRAIN + " --lr inf", "--lr"),
    (TRAIN + " --lr 0", "--lr"),
    (TRAIN + " --lr-decay 0", "--lr-decay"),
    (TRAIN + " --lr-decay 1.5", "--lr-decay"),
    (TRAIN + " --lr-warmup -1", "--lr-warmup"),
    (TRAIN + " --eps -5", "--eps"),
    (TRAIN + " --eps nan", "--eps"),
    (TRAIN + " --eps-scale -1", "--eps-scale"),
    (TRAIN + " --adv-weight -1", "--adv-weight"),
    (TRAIN + " --spgd-steps 0", "--spgd-steps"),
    (TRAIN + " --max-train-examples -5", "--max-train-examples"),
    (TRAIN + " --max-train-examples 0", "--max-train-examples"),
    (TRAIN + " --max-length 1", "--max-length"),
    (TRAIN + " --bucket-batches 0", "--bucket-batches"),
    (TRAIN + " --neighbor-interval 0", "--neighbor-interval"),
    (TRAIN + " --fc-dim 0", "--fc-dim"),
    (TRAIN + " --fc-bias inf", "--fc-bias"),
    (TRAIN + " --seed -1", "--seed"),
    # iadv train: enumerations
    (TRAIN + " --method bogus", "--method"),
    (TRAIN + " --perturbation-norm bogus", "--perturbation-norm"),
    (TRAIN + " --iadvt-weights bogus", "--iadvt-weights"),
    (TRAIN + " --spgd-rank bogus", "--spgd-rank"),
    (TRAIN + " --dropout-masks bogus", "--dropout-masks"),
    (TRAIN + " --neighbor-mode bogus", "--neighbor-mode"),
    (TRAIN + " --neighbor-interval-unit bogus", "--neighbor-interval-unit"),
    (TRAIN + " --readout bogus", "--readout"),
    (TRAIN + " --communicator bogus", "--communicator"),
    # iadv train: devices, presets, paths
    (TRAIN + " --device 3", "--device"),
    (TRAIN + " --device bogus", "--device"),
    (TRAIN + " --device @cupy:x", "--device"),
    ("train --preset nosuch --data {data} -o {out}", "nosuch"),
    ("train --preset {files}/list.json --data {data} -o {out}", "list.json"),
    ("train --preset {files}/not_json.json --data {data} -o {out}", "not valid JSON"),
    ("train --preset {files}/unknown_key.json --data {data} -o {out}", "bogus_key"),
    ("train --preset {files}/string_batch.json --data {data} -o {out}", "batchsize"),
    ("train --preset tiny --data {data} -o {files}/a_file", "not a directory"),
    ("train --preset tiny --data {empty} -o {out}", "not a prepared dataset"),
    ("train --preset tiny --data {files}/nowhere -o {out}", "not a prepared dataset"),
    (TRAIN + " --pretrained {files}/missing.npz", "missing.npz"),
    (TRAIN + " --pretrained {files}/a_file", "a_file"),
    # iadv train: hostile and damaged files
    (TRAIN + " --pretrained {evil_lm}", "pickled"),
    (TRAIN + " --pretrained {evil_meta_lm}", "pickled"),
    (TRAIN + " --resume {evil_snapshot}", "pickled"),
    (TRAIN + " --resume {files}/missing_snapshot", "--resume"),
    (TRAIN + " --resume {files}/a_file", "--resume"),
    ("train --preset tiny --data {data} -o {evil_autoload} --no-progress --method spgd --pretrained {lm} --test",
     "pickled"),
    ("train --preset tiny --data {data} -o {corrupt_args} --no-progress --method spgd --test", "args.json"),
    # iadv train: resuming with other experiment settings
    ("train --preset tiny --data {data} -o {runs}/spgd --no-progress --method advt --pretrained {lm} --test",
     "--method advt (saved spgd)"),
    ("train --preset tiny --data {data} -o {runs}/spgd --no-progress --method spgd --pretrained {lm} --test "
     "--sigma 0.5", "--sigma"),
    ("train --preset tiny --data {data} -o {runs}/spgd --no-progress --method spgd --pretrained {lm} --test "
     "--seed 7", "--seed"),
    ("train --preset tiny --data {other_data} -o {runs}/spgd --no-progress --method spgd --pretrained {lm} "
     "--test", "--data"),
    ("pretrain --preset tiny --data {data} -o {runs}/spgd --no-progress --test", "command"),
    # iadv pretrain
    # equation 9 (beyond the paper): the conditional LM and the LM term
    (TRAIN + " --method advt --pretrained {lm} --lm-term {lm}", "class-conditional"),
    (TRAIN + " --method baseline --lm-term {lm}", "--lm-term"),
    (TRAIN + " --method spgd --lm-term {files}/missing.npz", "missing.npz"),
    (TRAIN + " --method advt --lm-term {evil_lm}", "pickled"),
    ("train --preset tiny --data {other_data} -o {out} --no-progress --method advt --lm-term {lm}", "vocabulary"),
    (TRAIN + " --method advt --lm-weight -1", "--lm-weight"),
    (TRAIN + " --method advt --lm-weight nan", "--lm-weight"),
    (TRAIN + " --method advt --lm-input bogus", "--lm-input"),
    (PRETRAIN + " --conditional --init {files}/missing.npz", "missing.npz"),
    (PRETRAIN + " --conditional --init {evil_lm}", "pickled"),
    (PRETRAIN + " --conditional --init {lm} --hidden-dim 7", "shape"),
    (PRETRAIN + " --bptt-len 0", "--bptt-len"),
    (PRETRAIN + " --eval-tokens -1", "--eval-tokens"),
    (PRETRAIN + " --softmax bogus", "--softmax"),
    (PRETRAIN + " --alpha-decay 0", "--alpha-decay"),
    (PRETRAIN + " --alpha-decay 2", "--alpha-decay"),
    (PRETRAIN + " --max-iterations 0", "--max-iterations"),
    (PRETRAIN + " --max-train-tokens 0", "--max-train-tokens"),
    (PRETRAIN + " --eval-interval 0", "--eval-interval"),
    (PRETRAIN + " --batchsize 100000", "--batchsize"),
    (PRETRAIN + " --device bogus", "--device"),
    ("pretrain --preset {files}/big_cutoffs.json --data {data} -o {out}", "cutoffs"),
    # iadv evaluate
    (EVALUATE + " --sample 0", "--sample"),
    (EVALUATE + " --sample -5", "--sample"),
    (EVALUATE + " --seed -1", "--seed"),
    (EVALUATE + " --device 3", "--device"),
    (EVALUATE + " --lm {evil_lm}", "pickled"),
    (EVALUATE + " --lm {files}/missing.npz", "missing.npz"),
    ("evaluate --runs {evil_runs} --data {data} --lm {lm} -o {out} --no-progress --sample 5", "pickled"),
    ("evaluate --runs {runs} --data {other_data} -o {out} --no-progress --sample 5", "vocabulary"),
    ("evaluate --runs {runs} --data {data} -o {runs}/spgd --no-progress --sample 5", "training run"),
    ("evaluate --runs {runs} --data {data} -o {files}/a_file --no-progress", "not a directory"),
    ("evaluate --runs {empty} -o {out}", "no training run"),
    ("evaluate --runs {runs} --data {data} -o {runs}/spgd --table3-only", "training run"),
    # iadv attack (Table 4)
    ("attack --runs {runs} --data {data} -o {out} --sample 0", "--sample"),
    ("attack --runs {runs} --data {data} -o {out} --max-share 2", "--max-share"),
    ("attack --runs {runs} --data {data} -o {out} --top 0", "--top"),
    ("attack --runs {runs} --data {data} -o {out} --max-ppl-ratio 0.9", "--max-ppl-ratio"),
    ("attack --runs {runs} --data {data} -o {out} --lm {evil_lm} --no-progress --sample 5", "pickled"),
    ("attack --runs {evil_runs} --data {data} --lm {lm} -o {out} --no-progress --sample 5", "pickled"),
    ("attack --runs {runs} --data {other_data} -o {out} --no-progress --sample 5", "vocabulary"),
    ("attack --runs {runs} --data {data} -o {runs}/spgd --no-progress --sample 5", "training run"),
    ("attack --runs {empty} -o {out}", "no training run"),
    # iadv interpret
    (INTERPRET + " --index -1", "--index"),
    (INTERPRET + " --index 100000", "--index"),
    (INTERPRET + " --figure {out}/heatmap.gif", "--figure"),
    (INTERPRET + " --figure {out}/no/such/dir/heatmap.png", "--figure"),
    (INTERPRET + " --lm {evil_lm}", "pickled"),
    (INTERPRET + " --device bogus", "--device"),
    ("interpret --runs {evil_runs} --data {data} --lm {lm}", "pickled"),
    ("interpret --runs {runs} --data {other_data}", "vocabulary"),
    ("interpret --runs {empty}", "no training run"),
    # iadv report
    ("report --runs {empty} -o {out}", "no seedN/"),
    ("report --runs {seeds} -o {out}", "run `iadv summarize --runs"),
    ("report --runs {keyless_seeds} -o {out}", "run `iadv summarize --runs"),
    # iadv summarize
    ("summarize --runs {empty}", "seedN"),
    ("summarize --runs {seeds} -o {runs}/spgd", "training run"),
    # iadv bench
    ("bench --steps -1 -o {out}", "--steps"),
    ("bench --steps 0 -o {out}", "--steps"),
    ("bench --timeout 0 -o {out}", "--timeout"),
    ("bench --device bogus -o {out}", "--device"),
    ("bench -k 0 -o {out}", "-k"),
    ("bench --sections neighbors --vocab-sizes 1 -o {out}", "--vocab-sizes"),
    ("bench --sizes huge -o {out}", "--sizes"),
    ("bench --sections classifier --data {files}/nowhere -o {out}", "not a prepared dataset"),
    ("bench --sections matmul -o {files}/a_file", "not a directory"),
    # iadv import-upstream-lm and compare-upstream
    ("import-upstream-lm {evil_checkpoint} --data {data} --upstream-vocab {data} -o {out}/lm.npz", "pickled"),
    ("import-upstream-lm {files}/missing.npz --data {data} --upstream-vocab {data} -o {out}/lm.npz", "missing"),
    ("import-upstream-lm {files}/a_file --data {data} --upstream-vocab {data} -o {out}/lm.npz", "a_file"),
    ("import-upstream-lm {evil_checkpoint} --data {files}/nowhere -o {out}/lm.npz", "not a prepared dataset"),
    ("compare-upstream --ours {empty} --upstream {files}/bad.log -o {out}", "log"),
    ("compare-upstream --ours {runs}/spgd --upstream {files}/bad.log -o {out}", "bad.log"),
    # iadv prepare (more in test_prepare_errors.py and test_prepare_force.py)
    ("prepare {raw} --out {out} --workers 0 --quiet", "--workers"),
    ("prepare {raw} --out {out} --min-df 0 --quiet", "--min-df"),
    ("prepare {raw} --out {raw} --force --quiet", "source"),
    ("prepare {files}/nowhere --out {out} --quiet", "nowhere"),
    # issue 21, item 2: an output that is a directory
    ("import-upstream-lm {files}/upstream_good.npz --data {data} --upstream-vocab {data} -o {a_directory}",
     "is a directory"),
    # item 3: a run trained on another vocabulary in the set (summarize and --table3-only refuse, as evaluate does)
    ("summarize --runs {mixed_seeds} -o {out}", "advt was trained on another vocabulary"),
    ("evaluate --runs {mixed} --data {data} -o {out} --table3-only", "advt was trained on another vocabulary"),
    ("evaluate --runs {mixed} --data {data} --lm {lm} -o {out} --no-progress --sample 5", "another vocabulary"),
    # item 4: bad values on the upstream side
    ("import-upstream-lm {files}/upstream_nan.npz --data {data} --upstream-vocab {data} -o {out}/lm.npz",
     "non-finite"),
    ("compare-upstream --ours {runs}/spgd --upstream {files}/nan_ckpt -o {out}", "not an accuracy"),
    ("compare-upstream --ours {runs}/spgd --upstream {files}/inf_ckpt -o {out}", "not an accuracy"),
    ("compare-upstream --ours {runs}/spgd --upstream {files}/big_ckpt -o {out}", "not an accuracy"),
    ("compare-upstream --ours {runs}/spgd --upstream {files}/twin_ckpt -o {out}", "second checkpoint"),
    ("compare-upstream --ours {runs}/spgd --upstream {files}/nan.log -o {out}", "not an accuracy"),
    ("compare-upstream --ours {runs}/spgd --upstream {files}/twice.log -o {out}", "second 'epoch:0'"),
    # item 5: the last tracebacks
    (TRAIN + " --communicator pure_nccl", "--communicator pure_nccl needs GPUs"),
    (PRETRAIN + " --communicator flat", "--communicator flat needs GPUs"),
    ("summarize --runs {keyless_seeds} -o {out}", "not the results.json of `iadv evaluate`"),
    ("compare-upstream --ours {runs}/spgd --upstream {files}/bad_time.log -o {out}", "impossible date"),
    ("import-upstream-lm {files}/upstream_good.npz --data {data} --upstream-vocab {files}/binary_vocab.txt "
     "-o {out}/lm.npz", "not a UTF-8 text file"),
    # item 6: a flag that needs another
    (TRAIN + " --method advt --lm-weight 0.5", "--lm-weight: only used with --lm-term"),
    (TRAIN + " --method spgd --lm-input tied", "--lm-input: only used with --lm-term"),
    # iadv tune: spaces the schema refuses, flags that conflict, inputs that cannot work (no storage is created)
    (TUNE, "at least one --space"),
    (TUNE + " --space eps_scale=abc", "--eps-scale must be a finite number"),
    (TUNE + " --space dropout=0.2,1.5", "--dropout must be"),
    (TUNE + " --space nosuch=1,2", "not an `iadv train` key"),
    (TUNE + " --space out=a,b", "not searchable"),
    (TUNE + " --space pretrained=a,b", "not searchable"),
    (TUNE + " --space method=advt,bogus", "must be one of"),
    (TUNE + " --space lr=0.01:0.001", "LOW must be below HIGH"),
    (TUNE + " --space adv_weight=0:1:log", "a log range needs LOW > 0"),
    (TUNE + " --space readout=eos:last_word", "needs a numeric key"),
    (TUNE + " --space lr=0.001:0.01 --sampler grid", "--sampler grid needs listed values"),
    (TUNE + " --space eps_scale=0.1,0.2 --eps-scale 0.2", "also fixed by --eps-scale"),
    (TUNE + " --space spgd_steps=1,2", "does not use --spgd-steps"),
    (TUNE.replace(" --method advt", "") + " --space eps_scale=0.1,0.2", "--method baseline does not use"),
    (TUNE + " --space eps_scale=0.1,0.1", "listed twice"),
    (TUNE + " --space lr=0.001,0.002 --space lr=0.003", "searched twice"),
    (TUNE + " --space eps_scale=0.1,0.2 --sampler grid --trials 3", "the grid has 2 points"),
    (TUNE + " --space lr=0.001,0.002 --report", "no study storage"),
    (TUNE + " --space lr=0.001,0.002 --storage bogus://x/y", "--storage bogus://x/y"),
    (TUNE + " --space lr=0.001,0.002 --jobs 0", "--jobs"),
    (TUNE.replace("--study s", "--study a/b") + " --space lr=0.001,0.002", "--study a/b"),
    (TUNE.replace("advt", "spgd") + " --space n_neighbors=5,100000", "--n-neighbors 100000"),
    (TUNE + " --space lr=0.001,0.002 --pretrained {evil_lm}", "--pretrained"),
    # iadv methods
    ("methods --row nosuch", "unknown run row 'nosuch'"),
    ("methods --rows bogus", "--rows"),
    # iadv synthetic
    ("synthetic --out {out} --noise 2", "--noise"),
    ("synthetic --out {out} --train -1", "--train"),
]


def _case_id(case):
    return case[0].split(" ")[0] + ":" + " ".join(w for w in case[0].split(" ")[1:] if "{" not in w)[-60:]


@pytest.mark.parametrize("command, fragment", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_gives_one_line_exit_2_and_changes_nothing(world, capsys, command, fragment):
    argv = command.format(**world).split()
    before = tree_state(world["root"])
    code, out, err = invoke(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, (code, err[-3000:])
    assert len(lines) == 1, "expected one line on stderr, got:\n" + err[-3000:]
    assert lines[0].startswith("iadv %s: error: " % argv[0]), lines[0]
    assert "Traceback" not in err
    assert fragment in lines[0], (fragment, lines[0])
    assert not os.path.exists(world["marker"]), "a pickled payload ran"
    assert tree_state(world["root"]) == before, "the error left files behind or changed them"


def test_every_subcommand_is_covered():
    from interpretable_adv.cli import build_parser

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    covered = {case[0].split(" ")[0] for case in CASES}
    assert commands <= covered, commands - covered


def test_unknown_command_is_one_line(capsys):
    code, _, err = invoke(["bogus"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("iadv: error: ")


# --------------------------------------------------------------------------- the legitimate paths beside them

def _copy_run(world, tmp_path):
    run = str(tmp_path / "spgd")
    shutil.copytree(os.path.join(world["runs"], "spgd"), run)
    return run


def _train_argv(world, run, *extra):
    return ["train", "--preset", "tiny", "--data", world["data"], "-o", run, "--no-progress", "--method", "spgd",
            "--pretrained", world["lm"], "--test", *extra]


def test_resume_accepts_changed_non_experiment_flags(world, tmp_path, capsys):
    run = _copy_run(world, tmp_path)
    code, _, err = invoke(_train_argv(world, run, "--log-interval", "3", "--eval-batchsize", "7"), capsys)
    assert code == 0, err[-2000:]
    saved = json.load(open(os.path.join(run, "args.json")))
    assert saved["config"]["log_interval"] == 3


def test_resume_of_a_run_saved_before_the_equation9_keys(world, tmp_path, capsys):
    """An args.json written before lm_term/lm_weight/lm_input (or a recipe's key, SPGD's spgd_rank) existed
    reads as their defaults; a real change of them is still refused."""
    run = _copy_run(world, tmp_path)
    path = os.path.join(run, "args.json")
    saved = json.load(open(path))
    for key in ("lm_term", "lm_weight", "lm_input", "spgd_rank"):
        del saved["config"][key]
    json.dump(dict(saved, config=dict(saved["config"], lm_weight=0.5)), open(path, "w"))
    code, _, err = invoke(_train_argv(world, run), capsys)
    assert code == 2 and "--lm-weight 1.0 (saved 0.5)" in err, err
    json.dump(saved, open(path, "w"))
    code, _, err = invoke(_train_argv(world, run), capsys)
    assert code == 0, err[-2000:]


def test_truncated_newest_snapshot_falls_back_to_the_older_one_with_a_warning(world, tmp_path, capsys):
    run = _copy_run(world, tmp_path)
    snapshots = sorted((n for n in os.listdir(run) if n.startswith("snapshot_iter_")),
                       key=lambda n: int(n.rsplit("_", 1)[1]))
    assert len(snapshots) == 2
    older, newest = snapshots
    data = open(os.path.join(run, newest), "rb").read()
    with open(os.path.join(run, newest), "wb") as f:
        f.write(data[: len(data) // 2])
    code, _, err = invoke(_train_argv(world, run), capsys)
    assert code == 0, err[-2000:]
    assert "warning:" in err and newest in err and older in err


def test_stale_temporaries_of_a_killed_run_are_removed(world, tmp_path, capsys):
    run = _copy_run(world, tmp_path)
    stale = [os.path.join(run, "tmpsnapshot_iter_12abcd"), os.path.join(run, ".results.json.tmp-x1y2.json")]
    os.makedirs(stale[0])
    open(os.path.join(stale[0], "snapshot_iter_12"), "wb").write(b"\0" * 1000)
    open(stale[1], "w").write("{")
    code, _, err = invoke(_train_argv(world, run), capsys)
    assert code == 0, err[-2000:]
    assert not any(os.path.exists(p) for p in stale)
    assert "removed 2 temporary" in err


def test_non_finite_loss_stops_before_the_update_and_keeps_the_last_good_snapshot(world, tmp_path):
    """A gradient made NaN at update 7: exit 1, one line naming the iteration, snapshot 5 the newest."""
    from interpretable_adv.commands.training_flags import resolve_config
    from interpretable_adv.errors import TrainingDiverged
    from interpretable_adv.training.classifier import train_classifier
    from interpretable_adv.training.updaters import ClassifierUpdater

    out = str(tmp_path / "nan")

    class Args:   # resolve_config reads the instance's attributes (vars(args))
        def __init__(self, **kw):
            self.__dict__.update(kw)

    config = resolve_config(Args(preset="tiny", test=True, progress=False, data=world["data"], method="baseline",
                                 out=out, snapshot_interval=5), "train")
    assert config["data"] == world["data"]
    original = ClassifierUpdater.compute_gradients

    def poisoned(self, model_loss, xs, t):
        original(self, model_loss, xs, t)
        if self.iteration == 6:   # the 7th update
            model_loss.predictor.fc.W.grad[...] = np.nan

    ClassifierUpdater.compute_gradients = poisoned
    try:
        with pytest.raises(TrainingDiverged, match="iteration 7"):
            train_classifier(config)
    finally:
        ClassifierUpdater.compute_gradients = original
    names = sorted(n for n in os.listdir(out) if n.startswith("snapshot_iter_"))
    assert names == ["snapshot_iter_5"]
    with np.load(os.path.join(out, names[0])) as z:
        weights = [k for k in z.files if "/predictor/" in k]
        assert weights and all(np.isfinite(z[k]).all() for k in weights)


def _unshare_available():
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _unshare_available(),
                    reason="needs Linux user namespaces (unshare -rm) to mount a small tmpfs")
def test_disk_full_is_one_line_and_leaves_no_partial_results(world, tmp_path):
    """Training into a 64 KiB tmpfs: ENOSPC is reported in one line, exit 2, and no partial results.json."""
    full = tmp_path / "full"
    full.mkdir()
    iadv = os.path.join(os.path.dirname(sys.executable), "iadv")
    script = ('mount -t tmpfs -o size=64k tmpfs "$1" && "$2" train --preset tiny --data "$3" -o "$1/run" '
              '--no-progress --test; echo "exit=$?"; ls -a "$1/run" 2>/dev/null; '
              'test ! -e "$1/run/results.json" || python -c "import json,sys; json.load(open(sys.argv[1]))" '
              '"$1/run/results.json"')
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script.replace("python", sys.executable), "sh",
                             str(full), iadv, world["data"]], capture_output=True, text=True, timeout=300)
    assert "exit=2" in result.stdout, result.stdout[-2000:] + result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("iadv train: error: No space left on device"), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stdout + result.stderr   # results.json absent or complete


def test_a_stage_counts_as_done_only_when_its_results_file_parses(tmp_path):
    """experiments/lib.sh: a 0-byte results.json (e.g. from an older, non-atomic writer) reruns the stage."""
    lib = os.path.join(HERE, "..", "experiments", "lib.sh")
    marker = tmp_path / "results.json"
    script = ('source "$1"; stage demo "$2" sh -c "echo ran; printf \'{}\' > $2"; '
              'stage demo "$2" sh -c "echo ran again"')
    env = dict(os.environ, RUNS=str(tmp_path / "runs"), PYTHON=sys.executable, PRESET="tiny")
    marker.write_text("")
    result = subprocess.run(["bash", "-c", script, "bash", lib, str(marker)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "[redo]" in result.stderr   # the empty file did not count as done: the stage ran
    assert json.loads(marker.read_text()) == {}
    assert "[done] demo" in result.stdout   # the parsing file did: the second stage did not run
    assert (tmp_path / "runs" / "logs" / "demo.log").read_text() == "ran\n"


# --------------------------------------------------------------------------- issue 21: inputs that change under a run


def _replace_keeping_format(path, key="embed/W"):
    """Rewrite the .npz ``path`` with ``key`` changed (still loadable, another SHA-256)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[key] = arrays[key] + 0.5
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture(scope="module")
def conditional_lm(world, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("clm") / "clm")
    code = main(["pretrain", "--preset", "tiny", "--data", world["data"], "-o", out, "--no-progress", "--test",
                 "--conditional", "--init", world["lm"]])
    assert code == 0
    return os.path.join(out, "lm.npz")


@pytest.mark.parametrize("flag", ["--pretrained", "--lm-term", "--init"])
def test_a_resume_whose_input_file_changed_is_refused_naming_the_file(world, conditional_lm, tmp_path, capsys,
                                                                     flag):
    """args.json keeps each input's SHA-256; the input replaced between kill and resume is refused, the
    same input resumes."""
    copy = str(tmp_path / "input.npz")
    shutil.copy(conditional_lm if flag == "--lm-term" else world["lm"], copy)
    run = str(tmp_path / "run")
    if flag == "--init":
        argv = ["pretrain", "--preset", "tiny", "--data", world["data"], "-o", run, "--no-progress", "--test",
                "--conditional", "--init", copy]
    else:
        argv = _train_argv(world, run, "--snapshot-interval", "3")
        argv[argv.index("--method") + 1] = "advt"
        if flag == "--lm-term":
            argv += ["--lm-term", copy]
        else:
            argv[argv.index("--pretrained") + 1] = copy
    assert invoke(argv, capsys)[0] == 0
    saved = json.load(open(os.path.join(run, "args.json")))["inputs"]
    key = flag[2:].replace("-", "_")
    assert saved[key]["path"] == copy and len(saved[key]["sha256"]) == 64
    assert invoke(argv, capsys)[0] == 0   # unchanged input: the finished run resumes (and ends at once)
    _replace_keeping_format(copy)
    before = tree_state(str(tmp_path))
    code, _, err = invoke(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "%s %s (its content changed since the run started" % (flag, copy) in lines[0], lines[0]
    assert tree_state(str(tmp_path)) == before


# --------------------------------------------------------------------------- issue 21: writers that rename


def test_an_output_without_extension_gets_exactly_that_name_and_nothing_else(world, tmp_path, capsys):
    """import-upstream-lm -o mylm used to leave a 0-byte mylm and the checkpoint in a hidden temporary."""
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, err = invoke(["import-upstream-lm", os.path.join(world["files"], "upstream_good.npz"), "--data",
                                world["data"], "--upstream-vocab", world["data"], "-o", str(out / "mylm")], capsys)
    assert code == 0, err
    assert os.listdir(str(out)) == ["mylm"]
    with np.load(str(out / "mylm")) as z:
        assert z["embed/W"].shape[0] > 0 and "meta/vocab_hash" in z.files


def test_a_figure_without_extension_is_a_png_of_exactly_that_name(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interpretable_adv.reports.plots import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, str(tmp_path / "figure"))
    assert os.listdir(str(tmp_path)) == ["figure"]
    assert open(str(tmp_path / "figure"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_error_lines_name_the_users_path_not_our_temporary():
    from interpretable_adv.files import user_path

    assert user_path("/a/.out.tmp-hw2863w1") == "/a/out"
    assert user_path("/a/.out.tmp-hw2863w1/train.npz") == "/a/out/train.npz"
    assert user_path("runs/x/.results.json.tmp-ab12.json") == "runs/x/results.json"
    assert user_path("/a/.hidden/file") == "/a/.hidden/file"


def test_an_os_error_on_our_temporary_is_reported_with_the_users_path(monkeypatch, capsys):
    import errno

    import interpretable_adv.commands.summarize as summarize

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/runs/.out.tmp-hw2863w1")

    monkeypatch.setattr(summarize, "run", full_disk)
    code, _, err = invoke(["summarize"], capsys)
    assert code == 2 and err == "iadv summarize: error: No space left on device (/data/runs/out)\n"


@pytest.mark.parametrize("writer", ["text", "arrays", "figure"])
def test_every_atomic_writer_refuses_a_directory_target_and_leaves_nothing(tmp_path, writer):
    from interpretable_adv.errors import UsageError
    from interpretable_adv.files import atomic_write_text
    from interpretable_adv.checkpoints import save_arrays_with_meta

    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(UsageError, match="is a directory"):
        if writer == "text":
            atomic_write_text(str(target), "x")
        elif writer == "arrays":
            save_arrays_with_meta(str(target), {"a": np.zeros(2)}, {"vocab_hash": "h"})
        else:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            from interpretable_adv.reports.plots import save_figure
            save_figure(plt.figure(), str(target))
    assert os.listdir(str(tmp_path)) == ["target"] and os.listdir(str(target)) == []
