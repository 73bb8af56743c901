"""Every configuration key of ``iadv pretrain`` / ``iadv train``, declared once: type, range, default, help.

One table serves the presets (unknown keys are rejected with their name,
wrong types and out-of-range values with the key; a key no preset sets has
its default), the command-line flags (one per key: ``--help`` shows the
key's help, choices and the ``paper`` and ``small`` values; the same ranges,
reported with the flag's name) and the resume check (keys declared with
``experiment=False`` may change between a run and its resumption; every
other key may not). A key's default is the ``paper`` preset's value
(Appendix B where the paper states one); ``paper.json`` itself holds only
where a run goes (``out``) and the GPU. A method's own keys are declared in
its recipe (:func:`interpretable_adv.methods.setting_keys`), the
enumerations by the modules that use them. Paper symbols: ``eps`` = epsilon,
``n_neighbors`` = K, ``sigma`` = sigma, ``spgd_steps`` = M, ``adv_weight`` =
lambda.
"""

import copy

from interpretable_adv import methods
from interpretable_adv.distributed import COMMUNICATORS
from interpretable_adv.errors import UsageError
from interpretable_adv.keys import Key, flag_of
from interpretable_adv.lm_term import LM_INPUTS
from interpretable_adv.neighbors import MODES as NEIGHBOR_MODES
from interpretable_adv.neighbors import REFRESH_UNITS as NEIGHBOR_UNITS
from interpretable_adv.nets import DROPOUT_MASKS, READOUTS, SOFTMAXES


def _positive_int(default, help, nullable=False, **more):
    return Key("int", low=1, nullable=nullable, default=default, help=help, **more)


_WATCH = dict(experiment=False)   # how a run is watched or stored, not what it computes

# Keys of both sections; the defaults that differ between them are set per section below.
_COMMON = {
    "data": Key("str", default="runs/data/imdb", help="prepared dataset directory (from `iadv prepare`)",
                **_WATCH),   # a path: the dataset itself is compared by its fingerprint on resume
    "out": Key("str", short="-o", help="output directory", **_WATCH),
    "seed": Key("int", low=0, high=2 ** 32 - 1, default=0, help="random seed (initialisation, dropout, batch order)"),
    "device": Key("device", default="@numpy", short="-d", **_WATCH),
    "embed_dim": _positive_int(256, "embedding size D"),
    "hidden_dim": _positive_int(1024, "LSTM hidden size"),
    "dropout": Key("float", low=0.0, high=1.0, high_open=True, default=0.5, help="dropout ratio"),
    "batchsize": _positive_int(32, "batch size, LM: parallel streams", short="-b"),
    "lr": Key("float", low=0.0, low_open=True, default=0.001, help="Adam alpha"),
    "grad_clip": Key("float", low=0.0, low_open=True, default=4.0, help="gradient norm clipping"),
    "epoch": _positive_int(30, "training epochs", short="-e"),
    # eval_batchsize only groups the same dev/test reviews (dropout off): it does not change a result
    "eval_batchsize": _positive_int(64, "batch size for evaluation", **_WATCH),
    "log_interval": _positive_int(50, "iterations between progress-bar updates", **_WATCH),
    "snapshot_interval": _positive_int(1000, "iterations between resumable snapshots", **_WATCH),
}


def _common(**defaults):
    return {name: key.but(default=defaults[name]) if name in defaults else key for name, key in _COMMON.items()}


SECTIONS = {
    "pretrain": dict(_common(grad_clip=5.0, epoch=10, eval_batchsize=32, log_interval=100, snapshot_interval=2000), **{
        "softmax": Key("str", choices=SOFTMAXES, default="adaptive", help="output layer: adaptive or full softmax"),
        "cutoffs": Key("int_list", default=[2000, 10000],
                       help="adaptive softmax cluster boundaries, e.g. 2000,10000 (the head holds the first)"),
        "div_value": Key("float", low=1.0, default=4.0,
                         help="adaptive softmax: each tail cluster's projection is this much smaller"),
        "init_scale": Key("float", low=0.0, low_open=True, default=0.1,
                          help="parameters start uniform in [-init_scale, init_scale]"),
        "forget_bias": Key("float", default=1.0, help="initial LSTM forget-gate bias"),
        "bptt_len": _positive_int(35, "truncated BPTT length (upstream: 100)"),
        "alpha_decay": Key("float", low=0.0, high=1.0, low_open=True, default=0.9999,
                           help="alpha factor when dev perplexity does not improve"),
        "max_iterations": _positive_int(None, "stop after this many updates instead of --epoch", nullable=True),
        "max_train_tokens": _positive_int(None, "train on a seeded subset of whole reviews (small preset)",
                                          nullable=True),
        "eval_tokens": Key("int", low=2, nullable=True, default=None, help="dev tokens used for perplexity "
                           "(none: all)"),
        "eval_interval": _positive_int(None, "iterations between dev evaluations (none: each epoch)", nullable=True),
        "eval_bptt_len": _positive_int(100, "BPTT length of the dev perplexity"),
        "conditional": Key("bool", default=False, help="class-conditional LM p_l(x|y) (paper eq. 9): a label "
                           "embedding added at every step, trained on the labelled training reviews (beyond the "
                           "paper)"),
        "init": Key("str", nullable=True, default=None, help="start every parameter from this LM (lm.npz): "
                    "fine-tuning, e.g. with --conditional"),
    }),
    "train": dict(_common(), **{
        "method": Key("str", choices=methods.names(), default=methods.names(adversarial=False)[0],   # no perturbation
                      help="the perturbation method (`iadv methods` lists them)"),
        "pretrained": Key("str", nullable=True, default=None,
                          help="LM checkpoint (lm.npz from `iadv pretrain`) for embed + LSTM"),
        "fc_dim": _positive_int(30, "hidden feed-forward layer size"),
        "fc_bias": Key("float", default=0.0, help="initial bias of that ReLU layer"),
        "readout": Key("str", choices=READOUTS, default="eos",
                       help="state the head reads: eos (the paper's final <eos>) or last_word"),
        "lr_decay": Key("float", low=0.0, high=1.0, low_open=True, default=0.9998,
                        help="alpha factor after every update (paper and upstream)"),
        "lr_warmup": Key("int", low=0, default=0, help="linear alpha warm-up over the first N updates (0: none)"),
        "max_length": Key("int", low=2, nullable=True, default=None,
                          help="keep the last N ids of longer reviews (none: whole reviews)"),
        "max_train_examples": _positive_int(None, "train on a seeded subset of the training reviews", nullable=True),
        "bucket_batches": _positive_int(1, "batches per length-sorting window (1 = plain random batches)"),
        "eps": Key("float", low=0.0, nullable=True, default=None, help="epsilon, perturbation norm (none: the "
                   "method's paper epsilon, listed by `iadv methods`, times --eps-scale)"),
        "eps_scale": Key("float", low=0.0, default=1.0,
                         help="multiplies the paper's epsilon when --eps is not given (small: see docs/results.md)"),
        "adv_weight": Key("float", low=0.0, default=1.0, help="lambda, weight of the adversarial loss"),
        "n_neighbors": _positive_int(15, "K, nearest neighbours per word (methods with neighbour directions)"),
        "neighbor_interval": _positive_int(50, "refresh the neighbours every N units"),
        "neighbor_interval_unit": Key("str", choices=NEIGHBOR_UNITS, default="iteration",
                                      help="iteration (paper) or epoch (upstream)"),
        "neighbor_mode": Key("str", choices=NEIGHBOR_MODES, default="lazy",
                             help="lazy (rows computed when first needed) or full table"),
        "dropout_masks": Key("str", choices=DROPOUT_MASKS, default="fresh",
                             help="fresh (upstream) or shared masks for the adversarial pass"),
        "lm_term": Key("str", nullable=True, default=None, help="class-conditional LM (lm.npz from `iadv pretrain "
                       "--conditional`): add the paper's eq. 9 term -log p_l(x|y) to the perturbation's gradient "
                       "(beyond the paper)"),
        "lm_weight": Key("float", low=0.0, default=1.0, help="beta, weight of the eq. 9 LM term"),
        "lm_input": Key("str", choices=LM_INPUTS, default="offset", help="what the LM of --lm-term reads: offset "
                        "(its own embeddings + d) or tied (the classifier's embeddings + d)"),
    }, **methods.setting_keys()),
}
# Keys set by the command line, not by presets.
RUN_KEYS = {"resume": Key("str", nullable=True, default=None, **_WATCH),
            "progress": Key("bool", default=True, **_WATCH), "preset": Key("str", **_WATCH),
            "communicator": Key("str", choices=COMMUNICATORS, nullable=True, default=None, **_WATCH),
            # --test: its shortened settings are experiment keys (max_iterations, ...), compared on resume
            "test": Key("bool", default=False, **_WATCH)}

# Keys that may differ between a run and its resumption: they change how a run is watched, stored or
# where it runs, not what it computes.
NON_EXPERIMENT_KEYS = frozenset(name for keys in list(SECTIONS.values()) + [RUN_KEYS]
                                for name, key in keys.items() if not key.experiment)


def defaults(section):
    """Every key of ``section`` that has a default, with it (the root under every preset)."""
    return {name: copy.deepcopy(key.default) for name, key in SECTIONS[section].items() if not key.required}


def with_defaults(config, section):
    """A saved configuration (an ``args.json``'s) completed with the defaults of keys added after it was written:
    a key introduced later defaults to the behaviour runs had before it existed."""
    return dict(defaults(section), **config)


def validate(config, section, sources):
    """Check every key of ``config`` against :data:`SECTIONS`; returns the normalised config.

    ``sources[key]`` says where a value came from (``"flag"`` or a preset
    name), used to name it in the one-line :class:`UsageError`.
    """
    schema = SECTIONS[section]
    config = with_defaults(config, section)
    checked = {}
    for key, value in config.items():
        spec = schema.get(key) or RUN_KEYS.get(key)
        where = sources.get(key, "flag")
        if spec is None:
            raise UsageError("preset %s: unknown key %r for `iadv %s` (known: %s)"
                             % (where, key, section, ", ".join(sorted(schema))))
        try:
            checked[key] = spec.check(value)
        except ValueError as exc:
            name = flag_of(key) if where == "flag" else "preset %s: key %r" % (where, key)
            raise UsageError("%s %s" % (name, exc)) from None
    missing = sorted(set(schema) - set(checked))
    if missing:
        raise UsageError("preset %s: missing key(s) %s for `iadv %s`"
                         % (sources.get("preset", "?"), ", ".join(missing), section))
    if section == "pretrain" and checked.get("cutoffs") and checked["cutoffs"][0] < 2:
        raise UsageError("cutoffs must start at >= 2 (the head keeps <eos> and <unk>)")
    if section == "train" and not checked.get("lm_term"):
        given = [flag_of(key) for key in ("lm_weight", "lm_input") if sources.get(key) == "flag"]
        if given:
            raise UsageError("%s: only used with --lm-term (the equation-9 LM term it sets); add --lm-term CLM "
                             "or drop %s" % (" and ".join(given), "them" if len(given) > 1 else "it"))
    if section == "train" and checked.get("lm_term") and checked["method"] not in methods.names(gradient=True):
        raise UsageError("--lm-term adds equation 9's LM term to an adversarial perturbation's gradient; --method %s "
                         "has none (use %s)" % (checked["method"], " or ".join(methods.names(gradient=True))))
    return checked


