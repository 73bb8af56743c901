"""Runs of the upstream iAdvT code (Sato et al., aonotas/interpretable-adv) beside ours.

* :func:`parse_upstream_log` reads an upstream training log
  (:func:`parse_upstream_checkpoints`: the dev/test figures in upstream's
  checkpoint names, when the log is lost);
  :func:`parse_our_run` reads one of our run directories (Chainer's ``log`` plus
  ``results.json``). Both give a :class:`RunLog`: one row per epoch with dev
  and test accuracy (percent) and the wall time at the end of the epoch.
* :func:`comparison_markdown` and :func:`comparison_figure` put runs side by side;
  :func:`write_comparison` writes ``comparison.md`` and ``comparison.png``
  atomically (nothing is written when any input fails to parse).
* :func:`import_upstream_lm` turns an upstream language-model checkpoint
  (``embed/W`` and an ``NStepLSTM`` under ``rnn/0/``) into our ``lm.npz`` format,
  renumbering the embedding rows from upstream's vocabulary to ours.

Upstream log format (Python ``logging``): plain prints first (``vocab:87008``,
``train_vocab_size: 66825``, ...), then lines ``DATE TIME,ms : THREAD : LEVEL :
MESSAGE``. Messages read here: ``epoch:N`` (starts epoch N; upstream counts
from 0, so N + 1 is reported), `` [train] sum_loss: X``, `` [train] apha:A,
global_step:S`` (sic), `` [train] accuracy:P`` (on the adversarial logits for
AdvT/iAdvT), `` [dev] accuracy:P``, `` [test] accuracy:P`` (percent), ``A => B``
(dev improved, model saved), and ``start finding nearest words...`` /
``[finish!]`` around a neighbour refresh, after which lines
``word<TAB><TAB>n1,n2,...`` list sample neighbours. Other messages are ignored.
"""

import datetime
import json
import os
import re

import numpy as np

from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_path, atomic_write_text, open_npz, read_json
from interpretable_adv.plots import save_figure

LOG_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) : ([^:]+?) : ([A-Z]+) : (.*)$")
LOOKS_LIKE_LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} ")
NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"
MESSAGES = {
    "epoch": re.compile(r"^epoch:\s*(\d+)$"),
    "train_loss": re.compile(r"^\[train\] sum_loss:\s*" + NUMBER + "$"),
    "alpha_step": re.compile(r"^\[train\] apha:\s*" + NUMBER + r",\s*global_step:\s*(\d+)$"),
    "train_accuracy": re.compile(r"^\[train\] accuracy:\s*" + NUMBER + "$"),
    "dev": re.compile(r"^\[dev\] accuracy:\s*" + NUMBER + "$"),
    "test": re.compile(r"^\[test\] accuracy:\s*" + NUMBER + "$"),
    "improved": re.compile(r"^" + NUMBER + r"\s*=>\s*" + NUMBER + "$"),
}
# A message that starts like one of the above but does not parse is an error, not noise.
PREFIXES = {"epoch": "epoch:", "train_loss": "[train] sum_loss", "alpha_step": "[train] apha",
            "train_accuracy": "[train] accuracy", "dev": "[dev] accuracy", "test": "[test] accuracy"}
REFRESH_START, REFRESH_END = "start finding nearest words", "[finish!]"
HEADER = re.compile(r"^([A-Za-z_][\w ]*?)\s*:\s*(\S.*)$")


class LogFormatError(UsageError):
    """A training log that cannot be read; the message names the file and line."""


class RunLog:
    """One training run: ``epochs`` is a list of dicts with ``epoch`` (1-based), ``dev`` and
    ``test`` (percent or None), ``seconds`` (wall time since the start, at the epoch's end)."""

    def __init__(self, name, source, kind, epochs, meta=None, summary=None):
        self.name, self.source, self.kind = name, source, kind
        self.epochs, self.meta, self.summary = epochs, meta or {}, summary or {}

    def best_dev(self):
        """The epoch row with the highest dev accuracy (the earliest on ties), or None."""
        rows = [e for e in self.epochs if e.get("dev") is not None]
        return max(rows, key=lambda e: (e["dev"], -e["epoch"])) if rows else None


# ----------------------------------------------------------------------------- parsing

def _timestamp(text, millis):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timestamp() + int(millis) / 1000.0


def parse_upstream_log(path, name=None):
    """Read an upstream training log into a :class:`RunLog` (raises :class:`LogFormatError`)."""
    if not os.path.isfile(path):
        raise LogFormatError("%s: no such file" % path)
    meta, epochs, refresh = {}, [], {"count": 0, "seconds": 0.0, "open": None, "sample_lines": 0}
    first_time = last_time = None
    current = None
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            lines = f.read().splitlines()
        except UnicodeDecodeError as exc:
            raise LogFormatError("%s: not a text log (%s)" % (path, exc)) from None
    for number, line in enumerate(lines, 1):
        where = "%s:%d" % (path, number)
        if not line.strip():
            continue
        match = LOG_LINE.match(line)
        if match is None:
            if LOOKS_LIKE_LOG_LINE.match(line):
                raise LogFormatError("%s: starts like a log line but is not 'DATE TIME,ms : THREAD : LEVEL : "
                                     "MESSAGE': %r" % (where, line[:120]))
            if "\t\t" in line:
                refresh["sample_lines"] += 1
            elif first_time is None:
                header = HEADER.match(line.strip())
                if header:
                    meta[header.group(1).strip()] = _number_or_text(header.group(2).strip())
            continue
        now = _timestamp(match.group(1), match.group(2))
        first_time = now if first_time is None else first_time
        last_time = now
        message = match.group(5).strip()
        if message.startswith(REFRESH_START):
            refresh["open"] = now
            continue
        if message == REFRESH_END:
            if refresh["open"] is not None:
                refresh["count"] += 1
                refresh["seconds"] += now - refresh["open"]
                refresh["open"] = None
            continue
        kind, values = _message(message, where)
        if kind is None:
            continue
        if kind == "epoch":   # an epoch ends at its own last line (its test accuracy, usually)
            current = {"logged_epoch": int(values[0]), "start": now, "end": now, "dev": None, "test": None,
                       "train_loss": None, "train_accuracy": None, "alpha": None, "global_step": None,
                       "improved": False}
            epochs.append(current)
            continue
        if current is None:
            raise LogFormatError("%s: %r before the first 'epoch:N' line" % (where, message))
        current["end"] = now
        if kind == "alpha_step":
            current["alpha"], current["global_step"] = float(values[0]), int(values[1])
        elif kind == "improved":
            current["improved"] = True
        else:
            current[kind] = float(values[0])
    if not any(e["dev"] is not None for e in epochs):
        raise LogFormatError("%s: no epoch with a '[dev] accuracy' line: not an upstream training log, "
                             "or the run stopped before its first evaluation" % path)
    offset = 1 if epochs[0]["logged_epoch"] == 0 else 0
    rows = []
    for e in epochs:
        rows.append({"epoch": e["logged_epoch"] + offset, "dev": e["dev"], "test": e["test"],
                     "seconds": e["end"] - first_time, "epoch_seconds": e["end"] - e["start"],
                     "train_loss": e["train_loss"], "train_accuracy": e["train_accuracy"],
                     "global_step": e["global_step"], "improved": e["improved"]})
    summary = {"wall_time_s": last_time - first_time, "neighbor_refreshes": refresh["count"],
               "neighbor_refresh_s": refresh["seconds"], "neighbor_sample_lines": refresh["sample_lines"]}
    return RunLog(name or os.path.basename(path), path, "upstream", rows, meta, summary)


def _number_or_text(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _message(message, where):
    """``(kind, groups)`` of a known message, ``(None, None)`` for other messages."""
    for kind, pattern in MESSAGES.items():
        match = pattern.match(message)
        if match:
            return kind, match.groups()
    for kind, prefix in PREFIXES.items():
        if message.startswith(prefix):
            raise LogFormatError("%s: malformed %r message: %r" % (where, prefix, message[:120]))
    return None, None


CHECKPOINT = re.compile(r"^(?P<name>.+)_(?P<epoch>\d+)_dev_acc_(?P<dev>" + NUMBER + r")_test_acc_(?P<test>"
                        + NUMBER + r")\.model$")


def parse_upstream_checkpoints(directory):
    """Runs from upstream checkpoint names ``{name}_{epoch}_dev_acc_{dev}_test_acc_{test}.model``.

    For a user who kept upstream's checkpoints but not its log. Upstream saves
    a model when dev accuracy improves, so only those epochs appear; the
    accuracies are taken as written (percent, as in the log), the epoch
    number as in the log (from 0, reported + 1 when the first one is 0), and
    there is no wall time. One :class:`RunLog` per ``name``.
    """
    if not os.path.isdir(directory):
        raise LogFormatError("%s: no such directory" % directory)
    runs = {}
    for entry in sorted(os.listdir(directory)):
        match = CHECKPOINT.match(entry)
        if match:
            runs.setdefault(match.group("name"), []).append(
                {"logged_epoch": int(match.group("epoch")), "dev": float(match.group("dev")),
                 "test": float(match.group("test"))})
    if not runs:
        raise LogFormatError("%s: no file named {name}_{epoch}_dev_acc_{dev}_test_acc_{test}.model" % directory)
    out = []
    for name, rows in sorted(runs.items()):
        rows.sort(key=lambda r: r["logged_epoch"])
        offset = 1 if rows[0]["logged_epoch"] == 0 else 0
        epochs = [{"epoch": r["logged_epoch"] + offset, "dev": r["dev"], "test": r["test"], "seconds": None,
                   "improved": True} for r in rows]
        out.append(RunLog(name, directory, "upstream", epochs, {"from": "checkpoint names"},
                          {"wall_time_s": None, "neighbor_refreshes": None}))
    return out


def parse_upstream(path):
    """Upstream runs from a log file, or from a directory of upstream checkpoints: a list of RunLogs."""
    return parse_upstream_checkpoints(path) if os.path.isdir(path) else [parse_upstream_log(path)]


def parse_our_run(run_dir, name=None):
    """Read one of our classifier runs (``log``, ``results.json``, ``args.json``) into a :class:`RunLog`."""
    log_path = os.path.join(run_dir, "log")
    if not os.path.isfile(log_path):
        raise LogFormatError("%s: no Chainer 'log' (not a run directory of `iadv train`?)" % run_dir)
    try:
        with open(log_path) as f:
            entries = json.load(f)
        if not isinstance(entries, list):
            raise ValueError("expected a list of report entries")
    except ValueError as exc:
        raise LogFormatError("%s: not a Chainer LogReport file (%s)" % (log_path, exc)) from None
    results, config = {}, {}
    if os.path.isfile(os.path.join(run_dir, "results.json")):
        results = read_json(os.path.join(run_dir, "results.json"), "run results")
    if os.path.isfile(os.path.join(run_dir, "args.json")):
        config = read_json(os.path.join(run_dir, "args.json"), "run settings").get("config", {})
    rows = {}
    for entry in entries:
        if "validation/main/accuracy" in entry and "epoch" in entry:
            rows[int(entry["epoch"])] = {"epoch": int(entry["epoch"]), "dev": 100.0 * entry["validation/main/accuracy"],
                                         "test": None, "seconds": float(entry.get("elapsed_time", float("nan"))),
                                         "train_loss": entry.get("main/loss"),
                                         "train_accuracy": _percent(entry.get("main/accuracy")),
                                         "global_step": entry.get("iteration")}
    if not rows:
        raise LogFormatError("%s: no entry with validation/main/accuracy (the run has not finished an epoch)"
                             % log_path)
    epochs = [rows[k] for k in sorted(rows)]
    best = results.get("best_epoch")
    for row in epochs:   # our test accuracy exists once: for the best-on-dev model
        if best is not None and row["epoch"] == best:
            row["test"] = _percent(results.get("test_accuracy"))
    adversarial = results.get("adversarial", {})
    summary = {"wall_time_s": results.get("wall_time_s", epochs[-1]["seconds"]),
               "tokens_per_sec": results.get("tokens_per_sec_mean"),
               "train_tokens_per_epoch": results.get("train_tokens_per_epoch"),
               "neighbor_refreshes": adversarial.get("neighbor_refreshes"),
               "test_accuracy": _percent(results.get("test_accuracy")), "best_epoch": best}
    meta = {"method": config.get("method", results.get("method")), "preset": config.get("preset"),
            "epochs_planned": config.get("epoch"), "n_neighbors": config.get("n_neighbors")}
    return RunLog(name or os.path.basename(os.path.normpath(run_dir)), run_dir, "ours", epochs, meta, summary)


def _percent(value):
    return None if value is None else 100.0 * float(value)


# ----------------------------------------------------------------------------- reports

def _fmt(value, fmt="%.2f"):
    return "-" if value is None else fmt % value


def summary_rows(run, tokens_per_epoch=None):
    """Headline figures of one run (dict), as in the comparison table."""
    best = run.best_dev()
    last = run.epochs[-1]
    tokens_per_sec = run.summary.get("tokens_per_sec")
    if tokens_per_sec is None and tokens_per_epoch and run.summary.get("wall_time_s"):
        tokens_per_sec = tokens_per_epoch * len(run.epochs) / run.summary["wall_time_s"]
    test_at_best = best.get("test") if best else None
    if run.kind == "ours":
        test_at_best = run.summary.get("test_accuracy")
    return {"epochs": len(run.epochs), "final dev accuracy": last.get("dev"),
            "best dev accuracy": best["dev"] if best else None, "best dev epoch": best["epoch"] if best else None,
            "test accuracy of the best-dev model": test_at_best,
            "last test accuracy": last.get("test") if run.kind == "upstream" else None,
            "wall time (h)": run.summary["wall_time_s"] / 3600.0 if run.summary.get("wall_time_s") else None,
            "tokens/s": tokens_per_sec, "neighbour refreshes": run.summary.get("neighbor_refreshes")}


SUMMARY_FORMATS = {"epochs": "%d", "best dev epoch": "%d", "wall time (h)": "%.3f", "tokens/s": "%.0f",
                   "neighbour refreshes": "%d"}


def comparison_markdown(ours, upstream, tokens_per_epoch=None):
    """``comparison.md``: the summary table (ours first, then each upstream run, then differences) and
    one table per run."""
    runs = [ours] + list(upstream)
    rows = [summary_rows(r, tokens_per_epoch) for r in runs]
    head = "| | " + " | ".join("%s (%s)" % (r.name, r.kind) for r in runs)
    if upstream:
        head += " | ours - %s" % upstream[0].name
    lines = ["# Our run beside upstream iAdvT", "", head + " |", "|---" * (len(runs) + 1 + bool(upstream)) + "|"]
    for key in rows[0]:
        fmt = SUMMARY_FORMATS.get(key, "%.2f")
        cells = [_fmt(row[key], fmt) for row in rows]
        if upstream:
            a, b = rows[0][key], rows[1][key]
            cells.append(_fmt(a - b, "%+.2f" if fmt == "%.2f" else "%+" + fmt[1:]) if a is not None and b is not None
                         and key != "best dev epoch" else "-")
        lines.append("| %s | %s |" % (key, " | ".join(cells)))
    lines += ["", "Accuracies in percent. Ours computes the test accuracy once, with the best-on-dev model; "
              "upstream evaluates the test set after every epoch, so its 'test accuracy of the best-dev model' is "
              "the test line of the epoch with the highest dev accuracy (earliest on ties). Upstream tokens/s: "
              "the train split's tokens (%s, whole reviews) x epochs / wall time (which includes evaluation)."
              % (("%d" % tokens_per_epoch) if tokens_per_epoch else "dataset not found: not computed"), ""]
    for run in runs:
        lines += ["## %s (%s: %s)" % (run.name, run.kind, run.source), ""]
        if run.meta:
            lines += [", ".join("%s %s" % (k, v) for k, v in run.meta.items() if v is not None), ""]
        lines += ["| epoch | dev accuracy | test accuracy | wall time (s) |", "|---|---|---|---|"]
        lines += ["| %d | %s | %s | %s |" % (e["epoch"], _fmt(e["dev"]), _fmt(e["test"]), _fmt(e["seconds"], "%.0f"))
                  for e in run.epochs]
        lines.append("")
    return "\n".join(lines)


def comparison_figure(ours, upstream):
    """Dev (solid) and test (dashed, markers) accuracy per epoch, and dev accuracy against wall time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for run in [ours] + list(upstream):
        epochs = [e["epoch"] for e in run.epochs]
        line, = by_epoch.plot(epochs, [e["dev"] for e in run.epochs], "-", label="%s dev" % run.name)
        tests = [(e["epoch"], e["test"]) for e in run.epochs if e["test"] is not None]
        if tests:
            by_epoch.plot(*zip(*tests), "--o", color=line.get_color(), markersize=3, label="%s test" % run.name)
        timed = [e for e in run.epochs if e.get("seconds") is not None]
        if timed:
            by_time.plot([e["seconds"] / 3600.0 for e in timed], [e["dev"] for e in timed], "-",
                         color=line.get_color(), label=run.name)
    from matplotlib.ticker import MaxNLocator
    by_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
    by_epoch.set_xlabel("epoch")
    by_epoch.set_ylabel("accuracy (%)")
    by_time.set_xlabel("wall time (h)")
    by_time.set_ylabel("dev accuracy (%)")
    by_epoch.legend(fontsize=8)
    by_time.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_comparison(ours, upstream, out_dir, tokens_per_epoch=None):
    """Write ``comparison.md``, ``comparison.png`` and ``comparison.json`` into ``out_dir`` (atomically)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError("--out %s: exists and is not a directory" % out_dir)
    text = comparison_markdown(ours, upstream, tokens_per_epoch)
    data = {r.name: {"kind": r.kind, "source": r.source, "meta": r.meta, "summary": r.summary,
                     "headline": summary_rows(r, tokens_per_epoch), "epochs": r.epochs}
            for r in [ours] + list(upstream)}
    figure = comparison_figure(ours, upstream)
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, name) for name in ("comparison.md", "comparison.json", "comparison.png")]
    atomic_write_text(paths[0], text)
    atomic_write_text(paths[1], json.dumps(data, indent=1))
    save_figure(figure, paths[2], dpi=120)
    return paths


# ----------------------------------------------------------------------------- LM checkpoint import

class UpstreamImportError(UsageError):
    """The upstream checkpoint, its vocabulary and our dataset do not fit together."""


# Upstream's LM dropout (the paper's 0.5); recorded for completeness, the import holds no output layer.
UPSTREAM_DROPOUT = 0.5
LSTM_KEYS = ["rnn/0/w%d" % i for i in range(8)] + ["rnn/0/b%d" % i for i in range(8)]


def read_word_list(path):
    """Upstream's words in id order from a prepared directory (``vocab.json``), a JSON list,
    a JSON object ``{word: id}``, or a text file with one word per line."""
    if os.path.isdir(path):
        path = os.path.join(path, "vocab.json")
    if not os.path.isfile(path):
        raise UpstreamImportError("%s: no such vocabulary file" % path)
    if path.endswith(".json"):
        data = read_json(path, "upstream vocabulary")
        if isinstance(data, dict) and "words" in data:
            return list(data["words"])
        if isinstance(data, dict):
            words = [None] * len(data)
            for word, index in data.items():
                if not 0 <= int(index) < len(words) or words[int(index)] is not None:
                    raise UpstreamImportError("%s: ids are not 0..%d without gaps" % (path, len(words) - 1))
                words[int(index)] = word
            return words
        return list(data)
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def _find_prefix(keys, path):
    candidates = [k[:-len("embed/W")] for k in keys if k.endswith("embed/W")]
    if len(candidates) != 1:
        raise UpstreamImportError("%s: expected exactly one 'embed/W' array (found %d); keys: %s"
                                  % (path, len(candidates), ", ".join(sorted(keys)[:12])))
    return candidates[0]


def import_upstream_lm(npz_path, upstream_words, our_words, vocab_hash, out_path):
    """Write our ``lm.npz`` (embedding + LSTM, ``meta/vocab_hash``) from an upstream LM checkpoint.

    ``upstream_words[i]`` is the word of row ``i`` of upstream's ``embed/W``;
    ``our_words`` is our dataset's vocabulary. Every one of our words must have
    an upstream row (else :class:`UpstreamImportError` listing the missing
    ones); rows are reordered to our ids. The LSTM (``rnn/0/w0..w7``,
    ``b0..b7``; one layer, gate blocks as Chainer's NStepLSTM stores them)
    is copied unchanged. A single common key prefix (e.g. ``predictor/``) is
    accepted. Returns a summary dict.
    """
    if not os.path.isfile(npz_path):
        raise UpstreamImportError("%s: no such file" % npz_path)
    with open_npz(npz_path, "upstream checkpoint") as z:
        prefix = _find_prefix(z.files, npz_path)
        missing_keys = [k for k in LSTM_KEYS if prefix + k not in z.files]
        if missing_keys:
            raise UpstreamImportError("%s: no %s (an NStepLSTM under %srnn/0/ is expected)"
                                      % (npz_path, ", ".join(prefix + k for k in missing_keys), prefix))
        embed = z[prefix + "embed/W"]
        lstm = {k: z[prefix + k] for k in LSTM_KEYS}
    if embed.ndim != 2:
        raise UpstreamImportError("%s: embed/W has shape %s, expected (V, D)" % (npz_path, embed.shape))
    n_vocab, dim = embed.shape
    hidden = lstm["rnn/0/b0"].shape[0] if lstm["rnn/0/b0"].ndim == 1 else None
    expected = {**{"rnn/0/w%d" % i: (hidden, dim) for i in range(4)},
                **{"rnn/0/w%d" % i: (hidden, hidden) for i in range(4, 8)},
                **{"rnn/0/b%d" % i: (hidden,) for i in range(8)}}
    wrong = ["%s %s (expected %s)" % (k, lstm[k].shape, expected[k]) for k in LSTM_KEYS
             if hidden is None or lstm[k].shape != expected[k]]
    if wrong:
        raise UpstreamImportError("%s: LSTM shapes do not fit embed/W %s: %s"
                                  % (npz_path, embed.shape, "; ".join(wrong)))
    if len(upstream_words) != n_vocab:
        raise UpstreamImportError("upstream vocabulary has %d words but %s has %d embedding rows: not the "
                                  "vocabulary this LM was trained with" % (len(upstream_words), npz_path, n_vocab))
    index = {}
    for i, word in enumerate(upstream_words):
        index.setdefault(word, i)
    missing = [w for w in our_words if w not in index]
    if missing:
        raise UpstreamImportError("%d of our %d words have no upstream row (e.g. %s); prepare our data with the "
                                  "same tokenizer and vocabulary rule as upstream (iadv prepare --vocab-order "
                                  "upstream)" % (len(missing), len(our_words), ", ".join(repr(w) for w in missing[:5])))
    rows = np.array([index[w] for w in our_words], dtype=np.int64)
    arrays = {"embed/W": embed[rows].astype(np.float32)}
    arrays.update({k: v.astype(np.float32) for k, v in lstm.items()})
    meta = {"vocab_hash": vocab_hash, "imported_from": os.path.abspath(npz_path), "format": "upstream-iadvt",
            "config": json.dumps({"embed_dim": int(dim), "hidden_dim": int(hidden), "n_vocab": len(our_words),
                                  "dropout": UPSTREAM_DROPOUT, "output_layer": None}),
            "identity_mapping": json.dumps(len(rows) == n_vocab and bool((rows == np.arange(len(rows))).all()))}
    arrays.update({"meta/" + k: np.asarray(v) for k, v in meta.items()})
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with atomic_path(out_path) as tmp:
        np.savez(tmp, **arrays)
    return {"out": out_path, "rows": len(rows), "upstream_rows": int(n_vocab), "embed_dim": int(dim),
            "hidden_dim": int(hidden), "unused_upstream_rows": int(n_vocab - len(set(rows.tolist())))}


# ----------------------------------------------------------------------------- command line

def add_compare_arguments(parser):
    parser.add_argument("--ours", required=True, help="our run directory (of `iadv train`)")
    parser.add_argument("--upstream", nargs="+", required=True, metavar="LOG",
                        help="upstream training log(s), or directories of upstream checkpoints "
                             "({name}_{epoch}_dev_acc_{dev}_test_acc_{test}.model) when the log is lost")
    parser.add_argument("--out", "-o", default=None, help="output directory (default: OURS/comparison)")
    parser.add_argument("--data", default=None,
                        help="prepared dataset whose train split sets upstream's tokens per epoch "
                             "(default: the one our run used)")


def run_compare(args):
    ours = parse_our_run(args.ours)
    upstream = [run for path in args.upstream for run in parse_upstream(path)]
    names = [r.name for r in [ours] + upstream]
    if len(set(names)) != len(names):
        for i, run in enumerate(upstream, 1):
            run.name = "upstream%d:%s" % (i, run.name)
    # Upstream trains on every training review, whole: its tokens per epoch are the train split's
    # (of --data, else of the dataset our run used), not our run's (which may be capped).
    data = args.data or _run_data(args.ours)
    tokens = None
    if data and os.path.isfile(os.path.join(data, "train.npz")):
        from interpretable_adv.data import PreparedData
        tokens = int(len(PreparedData(data).split("train").tokens))
    out = args.out or os.path.join(args.ours, "comparison")
    written = write_comparison(ours, upstream, out, tokens)
    with open(written[0]) as f:
        print(f.read())
    print("written: %s" % ", ".join(written))
    return 0


def _run_data(run_dir):
    path = os.path.join(run_dir, "args.json")
    if not os.path.isfile(path):
        return None
    return read_json(path, "run settings").get("config", {}).get("data")


def add_import_arguments(parser):
    parser.add_argument("checkpoint", help="upstream LM checkpoint (.npz with embed/W and rnn/0/w0..b7)")
    parser.add_argument("--upstream-vocab", default=None,
                        help="upstream's words in id order: a directory prepared with --vocab-order upstream, a "
                             "JSON list or {word: id} object, or a text file, one word per line "
                             "(default: --data's own vocabulary, i.e. --data was prepared with --vocab-order upstream)")
    parser.add_argument("--data", default=os.path.join("runs", "data", "imdb-upstream"),
                        help="our prepared dataset the classifier will train on")
    parser.add_argument("--out", "-o", default=os.path.join("runs", "upstream", "lm", "lm.npz"),
                        help="our LM checkpoint to write (give it to `iadv train --pretrained`)")


def run_import(args):
    from interpretable_adv.data import PreparedData, vocabulary_hash

    data = PreparedData(args.data)
    if args.upstream_vocab is None:
        order = read_json(os.path.join(args.data, "vocab.json"), "vocabulary").get("vocab_order", "frequency")
        if order != "upstream":
            raise UpstreamImportError("%s numbers words by %s, not as upstream does: pass --upstream-vocab "
                                      "(upstream's word list), or prepare the data with --vocab-order upstream"
                                      % (args.data, order))
    upstream_words = read_word_list(args.upstream_vocab or args.data)
    summary = import_upstream_lm(args.checkpoint, upstream_words, data.vocab.words,
                                 vocabulary_hash(data.vocab.words), args.out)
    print("wrote %(out)s: %(rows)d rows (of %(upstream_rows)d upstream rows), D %(embed_dim)d, H %(hidden_dim)d"
          % summary)
    print("use it with: iadv train --preset upstream --pretrained %s --data %s" % (args.out, args.data))
    return 0
