"""Training logs of the upstream iAdvT code (Sato et al.) and of our runs, read into one shape.

:func:`parse_upstream_log` reads an upstream training log
(:func:`parse_upstream_checkpoints`: the dev/test figures in upstream's
checkpoint names, when the log is lost); :func:`parse_our_run` reads one of our
run directories (Chainer's ``log`` plus ``results.json``). Both give a
:class:`RunLog`: one row per epoch with dev and test accuracy (percent) and the
wall time at the end of the epoch.

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

from interpretable_adv.errors import UsageError
from interpretable_adv.files import read_json

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


def _timestamp(text, millis, where):
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timestamp() + int(millis) / 1000.0
    except ValueError:
        raise LogFormatError("%s: impossible date or time %r" % (where, text)) from None


ACCURACY_KINDS = ("train_accuracy", "dev", "test")   # "A => B" is not read as numbers


def _accuracy(value, where, what):
    """An accuracy in percent as a float; NaN, inf or a value outside [0, 100] is a :class:`LogFormatError`."""
    number = float(value)
    if not 0.0 <= number <= 100.0:   # False for NaN too
        raise LogFormatError("%s: %s %s is not an accuracy in percent (0 to 100)" % (where, what, value))
    return number


def parse_upstream_log(path):
    """Read an upstream training log into a :class:`RunLog` (raises :class:`LogFormatError`)."""
    if not os.path.isfile(path):
        raise LogFormatError("%s: no such file" % path)
    meta, epochs, refresh = {}, [], {"count": 0, "seconds": 0.0, "open": None, "sample_lines": 0}
    first_time = last_time = None
    current = None
    epoch_lines = {}
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
        now = _timestamp(match.group(1), match.group(2), where)
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
        if kind in ACCURACY_KINDS:
            values = [_accuracy(v, where, "accuracy") for v in values]
        if kind == "epoch":   # an epoch ends at its own last line (its test accuracy, usually)
            if int(values[0]) in epoch_lines:
                raise LogFormatError("%s: a second 'epoch:%d' (the first is line %d): two runs in one log? Give "
                                     "each run its own file" % (where, int(values[0]), epoch_lines[int(values[0])]))
            epoch_lines[int(values[0])] = number
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
    return RunLog(os.path.basename(path), path, "upstream", rows, meta, summary)


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
            where = os.path.join(directory, entry)
            rows = runs.setdefault(match.group("name"), [])
            epoch = int(match.group("epoch"))
            twin = [r["file"] for r in rows if r["logged_epoch"] == epoch]
            if twin:
                raise LogFormatError("%s: a second checkpoint of %s for epoch %d (beside %s); keep one"
                                     % (where, match.group("name"), epoch, twin[0]))
            rows.append({"logged_epoch": epoch, "file": entry,
                         "dev": _accuracy(match.group("dev"), where, "dev accuracy"),
                         "test": _accuracy(match.group("test"), where, "test accuracy")})
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


def parse_our_run(run_dir):
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
    return RunLog(os.path.basename(os.path.normpath(run_dir)), run_dir, "ours", epochs, meta, summary)


def _percent(value):
    return None if value is None else 100.0 * float(value)
