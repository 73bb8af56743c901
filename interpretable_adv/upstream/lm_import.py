"""An upstream iAdvT language-model checkpoint turned into our ``lm.npz`` format.

:func:`import_upstream_lm` takes ``embed/W`` and the ``NStepLSTM`` under
``rnn/0/``, renumbers the embedding rows from upstream's vocabulary to ours,
and writes them with :func:`~interpretable_adv.checkpoints.save_arrays_with_meta`
(the same ``meta/`` entries as our own LM files: vocabulary hash, config with
every structural key, and ``format: upstream-iadvt``, since it holds no output
layer). It serves ``iadv train --pretrained``.
"""

import os

import numpy as np

from interpretable_adv.errors import UsageError
from interpretable_adv.files import open_npz, read_json
from interpretable_adv.checkpoints import save_arrays_with_meta

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
    try:
        with open(path, encoding="utf-8") as f:
            words = f.read().splitlines()
    except UnicodeDecodeError as exc:
        raise UpstreamImportError("%s: not a UTF-8 text file of words, one per line (byte %d: %s)"
                                  % (path, exc.start, exc.reason)) from None
    if any("\x00" in word for word in words):
        raise UpstreamImportError("%s: holds NUL bytes; not a text file of words, one per line" % path)
    return words


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
    for key, array in [("embed/W", embed)] + sorted(lstm.items()):
        if not np.issubdtype(array.dtype, np.floating):
            raise UpstreamImportError("%s: %s%s has dtype %s; an LM's parameters are floating point"
                                      % (npz_path, prefix, key, array.dtype))
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise UpstreamImportError("%s: %s%s holds %d non-finite value(s) (NaN or inf) of %d: not a usable "
                                      "LM (did its training diverge?)" % (npz_path, prefix, key, bad, array.size))
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
    config = {"embed_dim": int(dim), "hidden_dim": int(hidden), "n_vocab": len(our_words),
              "dropout": UPSTREAM_DROPOUT, "output_layer": None}
    save_arrays_with_meta(out_path, arrays, {
        "vocab_hash": vocab_hash, "config": config, "format": "upstream-iadvt",
        "imported_from": os.path.abspath(npz_path),
        "identity_mapping": len(rows) == n_vocab and bool((rows == np.arange(len(rows))).all())})
    return {"out": out_path, "rows": len(rows), "upstream_rows": int(n_vocab), "embed_dim": int(dim),
            "hidden_dim": int(hidden), "unused_upstream_rows": int(n_vocab - len(set(rows.tolist())))}
