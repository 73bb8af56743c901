"""Model files: parameters plus ``meta/`` entries, written atomically, read without pickling.

:func:`save_model_with_meta` / :func:`save_arrays_with_meta` write an ``.npz``
with the model's parameters and ``meta/<key>`` entries (vocabulary hash,
configuration); :func:`read_meta` reads them back. :func:`load_pretrained`
(``iadv train --pretrained``) and :func:`init_language_model` (``iadv
pretrain --init``) copy an LM's parameters into a model after checking the
vocabulary and the shapes; :func:`load_run` (with :func:`run_config`, a run's
saved configuration) and :func:`load_lm` load a finished run's best model and
an LM for evaluation. Run directories
themselves (``args.json``, snapshots, resuming) are :mod:`interpretable_adv.runs`'.
"""

import json
import os

import chainer
import numpy as np

from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_path, load_npz, open_npz, read_json
from interpretable_adv.lm_term import LMTerm
from interpretable_adv.nets import Classifier, LanguageModel
from interpretable_adv.presets.schema import with_defaults


def save_model_with_meta(path, model, meta):
    """``save_npz`` of ``model`` plus ``meta/<key>`` entries (vocabulary hash, config), atomically."""
    serializer = chainer.serializers.DictionarySerializer()
    serializer.save(model)
    uninitialised = [k for k, v in serializer.target.items() if v is None]
    if uninitialised:   # NumPy would pickle None; every file we write must load with pickling off
        raise ValueError("cannot save %s: uninitialised entries %s" % (path, ", ".join(uninitialised)))
    save_arrays_with_meta(path, {k: chainer.backends.cuda.to_cpu(v) for k, v in serializer.target.items()}, meta)


def save_arrays_with_meta(path, arrays, meta):
    """The one writer of model files: ``arrays`` plus ``meta/<key>`` (strings; other values as JSON).

    Atomic (a temporary name renamed into place); nothing pickled.
    """
    target = dict(arrays)
    for key, value in meta.items():
        target["meta/" + key] = np.asarray(json.dumps(value) if not isinstance(value, str) else value)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:   # a file object: np.savez would append ".npz" to a name without it
            np.savez(f, **target)

def read_meta(path, what=None):
    """The ``meta/`` entries of a file written by :func:`save_model_with_meta` (read without pickling)."""
    with open_npz(path, what) as z:
        return {k[len("meta/"):]: str(z[k]) for k in z.files if k.startswith("meta/")}


class PretrainedMismatch(UsageError):
    """The language-model checkpoint does not fit the classifier or the dataset."""


def load_pretrained(classifier, lm_path, vocab_hash):
    """Initialise ``classifier.embed`` and ``classifier.rnn`` from an LM checkpoint (``lm.npz``).

    Refuses (PretrainedMismatch) when the LM was trained on another
    vocabulary (hash differs) or its shapes differ. The head stays fresh.
    """
    copy_from_lm(classifier, lm_path, vocab_hash, "--pretrained",
                 wanted=lambda key: key.startswith(("embed/", "rnn/")))


def init_language_model(lm, lm_path, vocab_hash):
    """``iadv pretrain --init``: every parameter of ``lm`` from an LM checkpoint (fine-tuning).

    A class-conditional ``lm`` initialised from an unconditional checkpoint
    keeps its zero label embeddings (so it starts as exactly that LM).
    """
    copy_from_lm(lm, lm_path, vocab_hash, "--init", wanted=lambda key: True,
                 optional=lambda key: key.startswith("label_embed/"))


def copy_from_lm(model, lm_path, vocab_hash, flag, wanted, optional=lambda key: False):
    """Copy the ``wanted`` parameters of ``model`` from ``lm_path`` (checked: vocabulary, names, shapes)."""
    if not os.path.isfile(lm_path):
        raise PretrainedMismatch("%s %s: no such file" % (flag, lm_path))
    meta = read_meta(lm_path, flag)
    lm_hash = meta.get("vocab_hash")
    if lm_hash != vocab_hash:
        raise PretrainedMismatch("%s %s: vocabulary hash %s does not match the dataset's %s; "
                                 "the LM was trained on a different vocabulary" % (flag, lm_path, lm_hash, vocab_hash))
    with open_npz(lm_path, flag) as z:
        for name, param in model.namedparams():
            key = name.lstrip("/")
            if not wanted(key) or (optional(key) and key not in z.files):
                continue
            if key not in z.files:
                raise PretrainedMismatch("%s %s: no parameter %s" % (flag, lm_path, key))
            if z[key].shape != param.shape:
                raise PretrainedMismatch("%s %s: %s has shape %s, this model needs %s (use the LM's "
                                         "--embed-dim/--hidden-dim/--softmax/--cutoffs)"
                                         % (flag, lm_path, key, z[key].shape, param.shape))
            param.array[...] = chainer.backend.get_array_module(param.array).asarray(z[key])


# ----------------------------------------------------------------------------- finished runs' models


def run_config(run_dir):
    """The configuration in a run's ``args.json`` (UsageError if absent or unreadable), with the defaults of keys
    added after it was written."""
    saved = read_json(os.path.join(run_dir, "args.json"), "run settings")
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise UsageError("%s: not an args.json written by `iadv train`" % os.path.join(run_dir, "args.json"))
    return with_defaults(saved["config"], "train")


def load_run(run_dir, data, device):
    """Classifier of a run directory (best-on-dev weights) and its configuration.

    Refuses (UsageError) a run trained on another vocabulary than ``data``'s.
    """
    config = run_config(run_dir)
    results_path = os.path.join(run_dir, "results.json")
    if os.path.isfile(results_path):
        trained_on = read_json(results_path, "run results").get("vocab_hash")
        if trained_on is not None and trained_on != data.vocab.hash:
            raise UsageError("%s was trained on another vocabulary (hash %s) than --data %s (%s); pass the "
                             "dataset the run used" % (run_dir, trained_on[:12], data.directory, data.vocab.hash[:12]))
    model = Classifier.from_config(config, len(data.vocab))
    load_npz(os.path.join(run_dir, "best_model.npz"), model, "best model")
    model.to_device(device)
    return model, config


LM_STRUCTURE_KEYS = ("embed_dim", "hidden_dim", "softmax", "cutoffs", "div_value", "init_scale", "forget_bias")


def load_lm(path, data, device, flag="--lm"):
    """The language model in ``path`` (``lm.npz``), checked against ``data``'s vocabulary first."""
    if not os.path.isfile(path):
        raise UsageError("%s %s: no such file" % (flag, path))
    meta = read_meta(path, flag)
    if meta.get("vocab_hash") != data.vocab.hash:
        raise UsageError("%s %s: trained on another vocabulary (hash %s) than --data %s (%s)"
                         % (flag, path, str(meta.get("vocab_hash"))[:12], data.directory, data.vocab.hash[:12]))
    if meta.get("format") == "upstream-iadvt":
        raise UsageError("%s %s: an imported upstream LM holds only the embedding and the LSTM (for `iadv train "
                         "--pretrained`); perplexities need an LM with its softmax, from `iadv pretrain`" % (flag, path))
    try:
        config = json.loads(meta["config"])
    except (KeyError, ValueError):
        raise UsageError("%s %s: no readable meta/config entry; not an LM written by iadv" % (flag, path)) from None
    missing = [key for key in LM_STRUCTURE_KEYS if key not in config]
    if missing:
        raise UsageError("%s %s: its config lacks %s" % (flag, path, ", ".join(missing)))
    config.setdefault("dropout", 0.0)   # evaluation runs with dropout off; older imports did not record it
    lm = LanguageModel.from_config(config, len(data.vocab))
    load_npz(path, lm, flag)
    lm.to_device(device)
    return lm


def load_lm_term(config, data, device):
    """The equation-9 :class:`~interpretable_adv.lm_term.LMTerm` of a ``train`` configuration (``lm_term``,
    ``lm_weight``, ``lm_input``), or None without ``lm_term``.

    Refuses (UsageError) an LM that is not class-conditional or whose
    embedding size differs from the classifier's.
    """
    path = config["lm_term"]
    if not path:
        return None
    lm = load_lm(path, data, device, flag="--lm-term")
    if not lm.conditional:
        raise UsageError("--lm-term %s: not a class-conditional LM (equation 9 needs p_l(x | y): train one with "
                         "`iadv pretrain --conditional --init LM`)" % path)
    if lm.embed_dim != config["embed_dim"]:
        raise UsageError("--lm-term %s: embeddings of size %d, the classifier's have %d; the LM must read the "
                         "classifier's perturbation (same --embed-dim)" % (path, lm.embed_dim, config["embed_dim"]))
    return LMTerm(lm, config["lm_weight"], config["lm_input"])
