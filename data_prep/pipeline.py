"""Prepare IMDB for the language model and the classifiers (DESIGN section 3).

Pipeline: read and tokenise the reviews (in parallel, one unit of work per
archive or review group), merge the per-unit vocabularies, split by file id,
count document frequencies over labeled-train + unlabeled, keep words with
document frequency >= ``min_df``, number them by frequency, map every review to
ids (dropping or ``<unk>``-ing out-of-vocabulary tokens, appending ``<eos>``),
and write the result atomically: everything goes to a temporary sibling
directory that is renamed into place only when complete.
"""

import array
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from interpretable_adv.errors import PrepareError
from interpretable_adv.locking import LOCK_NAME, OutputLock
from data_prep.layout import GROUPS, counts_for_vocabulary, split_of
from data_prep.sources import DirectorySource, plan_units, resolve_sources
from data_prep.stats import split_statistics, table2_markdown
from data_prep.tokenize import TOKENIZERS, get_tokenizer
from interpretable_adv.data import (
    EOS,
    EOS_ID,
    SPLIT_NAMES,
    UNK,
    UNK_ID,
    ReviewSplit,
    vocabulary_hash,
)

FORMAT_VERSION = 1
OUTPUT_FILES = ("vocab.json", "stats.json", "stats.md") + tuple(s + ".npz" for s in SPLIT_NAMES)
# Written last into every prepared dataset: what lets --force recognise a directory it may replace.
MARKER = ".iadv-prepared"
# Fewer words than this (besides <eos> and <unk>) reaching --min-df is an error, not a dataset.
MIN_VOCAB_WORDS = 10
OOV_POLICIES = ("drop", "unk")
VOCAB_ORDERS = ("frequency", "upstream")
# Upstream iAdvT numbers words by first appearance over these groups, in this order.
UPSTREAM_ORDER_GROUPS = ("train/pos", "train/neg", "train/unsup")

# Expected review count of the full aclImdb v1 (for the progress bar only).
_FULL_DATASET_REVIEWS = 100000

_report = None  # progress callback of the current process (set per worker)


def prepare_imdb(sources, out_dir, tokenizer="regex", min_df=2, oov="drop", workers=None,
                 force=False, progress=True, log=None, vocab_order="frequency", min_vocab=MIN_VOCAB_WORDS):
    """Prepare the IMDB dataset from ``sources`` into ``out_dir``.

    Returns ``(stats, reused)``: the content of ``stats.json`` and whether an
    existing output with the same inputs and options was reused.
    Raises :class:`PrepareError` for bad input or an unusable output path:
    among others when ``out_dir`` is, contains or lies inside a source, when
    ``force`` would replace a directory that is not a prepared dataset, and
    when fewer than ``min_vocab`` words reach ``min_df``. All these checks run
    before anything is created or removed.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    workers, note = check_options(tokenizer=tokenizer, min_df=min_df, oov=oov, workers=workers,
                                  vocab_order=vocab_order)
    if note:
        log(note)
    options = {"tokenizer": tokenizer, "min_df": int(min_df), "oov": oov}
    if vocab_order != "frequency":   # absent for the default, so earlier outputs keep their fingerprint
        options["vocab_order"] = vocab_order

    resolved = resolve_sources(sources)
    check_out_against_sources(out_dir, list(sources) + [_source_path(s) for s in resolved])
    fingerprint = _fingerprint(resolved, options)
    existing = _existing_output(out_dir, fingerprint, force)
    if existing is not None:
        return existing, True
    # One writer: the lock lies beside out_dir (out_dir itself is replaced by a rename). Under it, look again:
    # another `iadv prepare` may have finished the same dataset since.
    with contextlib.ExitStack() as locks:
        locks.enter_context(OutputLock(out_dir, "--out", beside=True))
        if os.path.isdir(out_dir):   # and the lock of whoever writes into it (a run given this --out)
            locks.enter_context(OutputLock(out_dir, "--out"))
        existing = _existing_output(out_dir, fingerprint, force)
        if existing is not None:
            return existing, True
        staging = _make_staging_dir(out_dir)
        try:
            start = time.time()
            units = plan_units(resolved)
            results = _tokenize_units(units, tokenizer, workers, progress)
            t_read = time.time() - start
            log("merging %d work units, building the vocabulary" % len(results))
            groups = _merge_units(results)
            splits = _split_reviews(groups)
            first_seen = _upstream_first_appearance(groups) if vocab_order == "upstream" else None
            vocab = _build_vocabulary(splits, min_df, first_seen)
            _check_vocabulary_size(vocab, min_df, min_vocab)
            tables = _encode_splits(splits, vocab["global_to_id"], oov)
            t_total = time.time() - start
            stats = _write(staging, tables, vocab, options, fingerprint, sources,
                           {"read_tokenize_s": round(t_read, 2), "total_s": round(t_total, 2)})
            _commit(staging, out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return stats, False


# --------------------------------------------------------------------------- checks

def check_options(tokenizer="regex", min_df=2, oov="drop", workers=None, vocab_order="frequency"):
    """Validate the options before any work; returns ``(workers, note)``.

    ``workers`` above the number of CPUs is capped to it (``note`` says so, a
    line for stderr); below 1 it is an error, as is ``min_df`` below 1.
    """
    if tokenizer not in TOKENIZERS:
        raise PrepareError("unknown tokenizer %r (choose from %s)" % (tokenizer, ", ".join(TOKENIZERS)))
    if oov not in OOV_POLICIES:
        raise PrepareError("unknown OOV policy %r (choose from %s)" % (oov, ", ".join(OOV_POLICIES)))
    if min_df < 1:
        raise PrepareError("--min-df must be >= 1 (got %d)" % min_df)
    if vocab_order not in VOCAB_ORDERS:
        raise PrepareError("unknown vocabulary order %r (choose from %s)" % (vocab_order, ", ".join(VOCAB_ORDERS)))
    note = None
    if workers is not None:
        if workers < 1:
            raise PrepareError("--workers must be >= 1 (got %d)" % workers)
        cpus = os.cpu_count()
        if cpus and workers > cpus:
            note = "iadv prepare: note: --workers %d is more than the %d CPUs; using %d" % (workers, cpus, cpus)
            workers = cpus
    return workers, note


def _source_path(source):
    return source.root if isinstance(source, DirectorySource) else source.path


def _is_within(path, directory):
    """Whether the real path ``path`` is ``directory`` or lies below it (both real paths)."""
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:   # different drives
        return False


def check_out_against_sources(out_dir, source_paths):
    """Refuse an output that is, contains or lies inside a source (compared as real paths).

    ``source_paths`` are the paths as the user gave them and what they resolve
    to (the ``aclImdb`` directory, the archives). Called before anything is
    created: the staging directory is a sibling of ``out_dir``.
    """
    out_real = os.path.realpath(out_dir)
    for path in source_paths:
        real = os.path.realpath(path)
        if out_real == real:
            problem = "is the source %s" % path
        elif _is_within(real, out_real):
            problem = "contains the source %s" % path
        elif os.path.isdir(real) and _is_within(out_real, real):
            problem = "is inside the source %s" % path
        else:
            continue
        raise PrepareError("%s: %s; the output would replace or mix with the input; "
                           "choose an --out outside every source" % (out_dir, problem))


def _check_vocabulary_size(vocab, min_df, min_vocab):
    kept = len(vocab["words"]) - 2
    if kept >= min_vocab:
        return
    if min_df <= 1:
        raise PrepareError("the sources hold only %d distinct words in train + unlabeled reviews "
                           "(at least %d are needed for a vocabulary)" % (kept, min_vocab))
    raise PrepareError("--min-df %d keeps %d words (the most frequent word occurs in %d reviews; "
                       "at least %d words are needed); lower it" % (min_df, kept, vocab["max_doc_freq"], min_vocab))


# --------------------------------------------------------------------------- reading

def _tokenize_unit(task):
    """Worker: read and tokenise one unit; local word ids, one int32 array per group."""
    source, groups, tokenizer_name = task
    tokenize = get_tokenizer(tokenizer_name)
    index = {}
    collected = {g: {"ids": [], "ratings": [], "lengths": [], "tokens": array.array("i")} for g in groups}
    pending = 0
    for review in source.iter_reviews(groups):
        try:
            text = review.raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PrepareError("%s: not valid UTF-8 (byte 0x%02x at offset %d)"
                               % (review.where, review.raw[exc.start], exc.start)) from None
        tokens = tokenize(text)
        if not tokens:
            raise PrepareError("%s: empty review (no tokens)" % review.where)
        bucket = collected[review.group]
        bucket["ids"].append(review.file_id)
        bucket["ratings"].append(review.rating)
        bucket["lengths"].append(len(tokens))
        bucket["tokens"].extend([index.setdefault(t, len(index)) for t in tokens])
        pending += 1
        if pending == 200:
            _report(pending)
            pending = 0
    _report(pending)
    out = {}
    for group, bucket in collected.items():
        if bucket["ids"]:
            out[group] = {
                "ids": np.asarray(bucket["ids"], dtype=np.int64),
                "ratings": np.asarray(bucket["ratings"], dtype=np.int8),
                "lengths": np.asarray(bucket["lengths"], dtype=np.int64),
                "tokens": np.frombuffer(bucket["tokens"], dtype=np.int32).copy(),
                "where": repr(source),
            }
    return {"words": list(index), "groups": out}


def _init_worker(counter):
    global _report

    def report(n):
        with counter.get_lock():
            counter.value += n

    _report = report


def _tokenize_units(units, tokenizer, workers, progress):
    """Run :func:`_tokenize_unit` over all units, in a process pool when it helps."""
    from tqdm import tqdm

    global _report
    workers = workers or min(len(units), os.cpu_count() or 1)
    tasks = [(source, groups, tokenizer) for source, groups in units]
    bar = tqdm(total=_FULL_DATASET_REVIEWS, unit="review", desc="read+tokenise", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        if workers <= 1:
            _report = bar.update
            return [_tokenize_unit(t) for t in tasks]
        context = multiprocessing.get_context("fork")
        counter = context.Value("q", 0)
        with context.Pool(workers, initializer=_init_worker, initargs=(counter,)) as pool:
            pending = pool.map_async(_tokenize_unit, tasks, chunksize=1)
            while not pending.ready():
                pending.wait(0.25)
                bar.update(counter.value - bar.n)
            results = pending.get()
            bar.update(counter.value - bar.n)
            return results
    finally:
        bar.close()


# --------------------------------------------------------------------------- merging

def _merge_units(results):
    """Global word ids for all units; per group, reviews sorted by file id."""
    words = {}
    for result in results:
        for w in result["words"]:
            words.setdefault(w, len(words))
    global_words = list(words)
    parts = {g: [] for g in GROUPS}
    for result in results:
        lut = np.fromiter((words[w] for w in result["words"]), dtype=np.int32, count=len(result["words"]))
        for group, data in result["groups"].items():
            parts[group].append(dict(data, tokens=lut[data["tokens"]]))
    missing = [g for g in GROUPS if not parts[g]]
    if missing:
        raise PrepareError("no reviews found for %s in the given sources (an archive or directory is "
                           "missing; all of train/pos, train/neg, test/pos, test/neg, train/unsup are needed)"
                           % ", ".join("aclImdb/" + g for g in missing))
    merged = {}
    for group, chunks in parts.items():
        ids = np.concatenate([c["ids"] for c in chunks])
        lengths = np.concatenate([c["lengths"] for c in chunks])
        tokens = np.concatenate([c["tokens"] for c in chunks])
        ratings = np.concatenate([c["ratings"] for c in chunks])
        unique, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            dup = int(unique[counts > 1][0])
            raise PrepareError("aclImdb/%s: review id %d appears more than once (in %s)"
                               % (group, dup, ", ".join(sorted({c["where"] for c in chunks}))))
        order = np.argsort(ids, kind="stable")
        merged[group] = {"ids": ids[order], "ratings": ratings[order], "lengths": lengths[order],
                         "tokens": _reorder_segments(tokens, lengths, order)}
    return {"words": global_words, "groups": merged}


def _reorder_segments(tokens, lengths, order):
    """Concatenate the segments of ``tokens`` (given by ``lengths``) in ``order``."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    new_lengths = lengths[order]
    new_starts = np.concatenate([[0], np.cumsum(new_lengths)[:-1]])
    index = np.repeat(starts[order] - new_starts, new_lengths) + np.arange(new_lengths.sum())
    return tokens[index]


def _split_reviews(merged):
    """Group reviews into train / dev / test / unlabeled (pos before neg, by file id)."""
    pieces = {name: [] for name in SPLIT_NAMES}
    for group, label in GROUPS.items():
        data = merged["groups"][group]
        splits_of_reviews = split_of(group, data["ids"])
        for name in SPLIT_NAMES:   # empty selections too: every split gets a (possibly empty) piece
            pieces[name].append(_select(data, splits_of_reviews == name, label))
    splits = {}
    for name, chunks in pieces.items():
        splits[name] = {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
    splits["words"] = merged["words"]
    return splits


def _select(data, mask, label):
    doc_of_token = np.repeat(mask, data["lengths"])
    return {"ids": data["ids"][mask], "ratings": data["ratings"][mask], "lengths": data["lengths"][mask],
            "tokens": data["tokens"][doc_of_token], "labels": np.full(int(mask.sum()), label, np.int8)}


# --------------------------------------------------------------------------- vocabulary

def _upstream_first_appearance(merged):
    """Position of each word's first occurrence in upstream's reading order (global word index -> int).

    Upstream iAdvT reads aclImdb/train/pos, then train/neg, then train/unsup,
    each directory's files in file-name order (names compared as strings, as
    ``sorted(os.listdir(...))`` gives: ``10_7.txt`` before ``9_7.txt``), and
    numbers words as they first appear. Words never met there get a position
    after all others (they cannot be in the vocabulary, which counts the same
    reviews).
    """
    n_words = len(merged["words"])
    never = np.iinfo(np.int64).max
    first = np.full(n_words, never, np.int64)
    offset = 0
    for group in UPSTREAM_ORDER_GROUPS:
        data = merged["groups"][group]
        names = ["%d_%d.txt" % (i, r) for i, r in zip(data["ids"].tolist(), data["ratings"].tolist())]
        order = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)
        tokens = _reorder_segments(data["tokens"], data["lengths"], order)
        words, position = np.unique(tokens, return_index=True)
        unseen = first[words] == never
        first[words[unseen]] = offset + position[unseen]
        offset += len(tokens)
    return first


def _build_vocabulary(splits, min_df, first_seen=None):
    """Words with document frequency >= min_df over train + unlabeled.

    Ordered by decreasing frequency (ties by the word), or, with
    ``first_seen`` (from :func:`_upstream_first_appearance`), by first
    appearance as upstream numbers them; ``<eos>`` = 0 and ``<unk>`` = 1 either
    way. Returns the id-ordered word list, term and document counts, and a
    lookup table from global word index to final id (-1 for out-of-vocabulary).
    """
    words = splits["words"]
    n_words = len(words)
    term = np.zeros(n_words, np.int64)
    docs = np.zeros(n_words, np.int64)
    n_docs = 0
    for name in SPLIT_NAMES:
        if not counts_for_vocabulary(name):
            continue
        data = splits[name]
        term += np.bincount(data["tokens"], minlength=n_words)
        doc_index = np.repeat(np.arange(len(data["lengths"]), dtype=np.int64), data["lengths"])
        pairs = np.unique(doc_index * n_words + data["tokens"])
        docs += np.bincount(pairs % n_words, minlength=n_words)
        n_docs += len(data["lengths"])
    kept = np.flatnonzero(docs >= min_df)
    if first_seen is None:
        kept = sorted(kept.tolist(), key=lambda i: (-term[i], words[i]))
    else:
        kept = kept[np.argsort(first_seen[kept], kind="stable")].tolist()
    global_to_id = np.full(n_words, -1, np.int32)
    global_to_id[kept] = np.arange(2, len(kept) + 2, dtype=np.int32)
    oov_tokens = int(term.sum() - term[kept].sum())
    return {
        "words": [EOS, UNK] + [words[i] for i in kept],
        "counts": [n_docs, oov_tokens] + term[kept].tolist(),
        "doc_freq": [n_docs, 0] + docs[kept].tolist(),
        "global_to_id": global_to_id,
        "max_doc_freq": int(docs.max()) if n_words else 0,
    }


def _encode_splits(splits, global_to_id, oov):
    """Map every split to final ids, drop or ``<unk>`` OOV tokens, append ``<eos>``."""
    encoded = {}
    for name in SPLIT_NAMES:
        data = splits[name]
        ids = global_to_id[data["tokens"]]
        if oov == "unk":
            ids[ids < 0] = UNK_ID
        keep = ids >= 0
        n = len(data["lengths"])
        doc_index = np.repeat(np.arange(n), data["lengths"])
        kept_per_doc = np.bincount(doc_index, weights=keep, minlength=n).astype(np.int64)
        lengths = kept_per_doc + 1
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        tokens = np.empty(int(offsets[-1]), np.int32)
        is_eos = np.zeros(len(tokens), bool)
        is_eos[offsets[1:] - 1] = True
        tokens[is_eos] = EOS_ID
        tokens[~is_eos] = ids[keep]
        encoded[name] = ReviewSplit(tokens, offsets, data["labels"], data["ids"].astype(np.int32),
                                    data["ratings"])
    return encoded


# --------------------------------------------------------------------------- output

def _fingerprint(sources, options):
    payload = {"format": FORMAT_VERSION, "options": options, "sources": [s.fingerprint() for s in sources]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read_stats(out_dir):
    """The parsed ``stats.json`` of ``out_dir`` if it is a JSON object with a fingerprint, else None."""
    try:
        with open(os.path.join(out_dir, "stats.json"), encoding="utf-8") as f:
            stats = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(stats, dict) or "fingerprint" not in stats:
        return None
    return stats


def is_prepared_dataset(out_dir):
    """Whether ``out_dir`` is a directory written by ``iadv prepare`` (one ``--force`` may replace).

    It holds the :data:`MARKER` file, or (datasets from before the marker)
    holds nothing but the output files and a ``stats.json`` with a fingerprint.
    """
    if os.path.isfile(os.path.join(out_dir, MARKER)):
        return True
    try:
        entries = os.listdir(out_dir)
    except OSError:
        return False
    known = set(OUTPUT_FILES) | {MARKER, LOCK_NAME}
    return bool(entries) and all(e in known for e in entries) and _read_stats(out_dir) is not None


def _existing_output(out_dir, fingerprint, force):
    """The stats of a reusable prepared output, None to build, PrepareError to refuse.

    ``force`` builds anew, but only over an absent or empty directory or a
    prepared dataset (:func:`is_prepared_dataset`); anything else is refused.
    """
    if not os.path.exists(out_dir):
        return None
    if not os.path.isdir(out_dir):
        raise PrepareError("%s: exists and is not a directory" % out_dir)
    try:
        empty = not [name for name in os.listdir(out_dir) if name != LOCK_NAME]
    except OSError as exc:
        raise PrepareError("%s: cannot read the output directory (%s)" % (out_dir, exc.strerror or exc)) from None
    if empty:
        return None
    prepared = is_prepared_dataset(out_dir)
    if force:
        if not prepared:
            raise PrepareError("%s: exists and is not a dataset prepared by `iadv prepare` (no %s marker); "
                               "--force only replaces prepared datasets; choose another --out" % (out_dir, MARKER))
        return None
    complete = all(os.path.isfile(os.path.join(out_dir, f)) for f in OUTPUT_FILES)
    stats = _read_stats(out_dir) if complete else None
    if stats is not None and stats.get("fingerprint") == fingerprint:
        if not os.path.exists(os.path.join(out_dir, MARKER)):
            try:   # a dataset from before the marker: mark it (best effort, it may be read-only)
                _write_marker(out_dir, fingerprint)
            except OSError:
                pass
        return stats
    if stats is not None:
        raise PrepareError("%s: holds a dataset prepared from other inputs or options; "
                           "pass --force to rebuild it or choose another --out" % out_dir)
    if prepared:
        raise PrepareError("%s: holds an incomplete dataset prepared by `iadv prepare`; "
                           "pass --force to rebuild it or choose another --out" % out_dir)
    raise PrepareError("%s: exists, is not empty and is not a dataset prepared by `iadv prepare`; "
                       "choose another --out" % out_dir)


def _write_marker(directory, fingerprint):
    with open(os.path.join(directory, MARKER), "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT_VERSION, "fingerprint": fingerprint, "tool": "iadv prepare"}, f)
        f.write("\n")


def _make_staging_dir(out_dir):
    """A temporary sibling of ``out_dir``; fails early if the location is unwritable."""
    parent = os.path.dirname(os.path.abspath(out_dir))
    try:
        os.makedirs(parent, exist_ok=True)
        return tempfile.mkdtemp(prefix="." + os.path.basename(os.path.abspath(out_dir)) + ".tmp-", dir=parent)
    except OSError as exc:
        raise PrepareError("%s: cannot write the output directory (%s)" % (out_dir, exc.strerror or exc)) from None


def _commit(staging, out_dir):
    """Move the finished staging directory into place, replacing an old output."""
    old = None
    if os.path.lexists(out_dir):
        old = staging + ".old"
        os.rename(out_dir, old)
    os.rename(staging, out_dir)
    if old is not None:
        if os.path.islink(old):   # --out was a link: the link is replaced, not its target's content
            os.remove(old)
        else:
            shutil.rmtree(old, ignore_errors=True)


def _write(staging, tables, vocab, options, fingerprint, sources, timing):
    words = vocab["words"]
    vocab_hash = vocabulary_hash(words)
    for name, split in tables.items():
        split.save(os.path.join(staging, name + ".npz"))
    with open(os.path.join(staging, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({"words": words, "counts": vocab["counts"], "doc_freq": vocab["doc_freq"],
                   "eos_id": EOS_ID, "unk_id": UNK_ID, "hash": vocab_hash, **options}, f, ensure_ascii=False)
    table = {name: split_statistics(split.lengths) for name, split in tables.items()}
    stats = {
        "table2": table,
        "vocab_size": len(words),
        "vocab_hash": vocab_hash,
        "options": options,
        "fingerprint": fingerprint,
        "sources": [str(s) for s in sources],
        "timing": timing,
        "format": FORMAT_VERSION,
    }
    with open(os.path.join(staging, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=2)
    with open(os.path.join(staging, "stats.md"), "w", encoding="utf-8") as f:
        f.write("# Table 2: IMDB dataset information\n\n")
        f.write("tokenizer `%s`, min_df %d, OOV `%s`, word ids by %s, vocabulary hash `%s`\n\n"
                % (options["tokenizer"], options["min_df"], options["oov"],
                   "upstream's first appearance" if options.get("vocab_order") == "upstream" else "frequency",
                   vocab_hash[:16]))
        f.write(table2_markdown(table, len(words)))
    _write_marker(staging, fingerprint)
    return stats
