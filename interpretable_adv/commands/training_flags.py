"""The flags ``iadv pretrain`` and ``iadv train`` share: a preset plus Chainer-style overrides.

Each flag overrides one configuration key of the preset; every value is then
checked against :mod:`interpretable_adv.presets.schema` (types, ranges,
choices), and ``--test`` swaps in a few iterations on a small subset.
"""

from interpretable_adv.distributed import COMMUNICATORS
from interpretable_adv.presets import PRESETS, load_preset
from interpretable_adv.presets.schema import OPTIONAL_DEFAULTS, SECTIONS, add_device_flag

# flag -> (config key, type, help); shared by both commands where the key exists.
_COMMON = [
    ("--data", "data", str, "prepared dataset directory (from `iadv prepare`)"),
    ("--seed", "seed", int, "random seed (initialisation, dropout, batch order)"),
    ("--embed-dim", "embed_dim", int, "embedding size D (paper: 256)"),
    ("--hidden-dim", "hidden_dim", int, "LSTM hidden size (paper: 1024)"),
    ("--dropout", "dropout", float, "dropout ratio (paper: 0.5)"),
    ("--lr", "lr", float, "Adam alpha (paper: 1e-3)"),
    ("--grad-clip", "grad_clip", float, "gradient norm clipping (paper: LM 5.0, classifier 4.0)"),
    ("--log-interval", "log_interval", int, "iterations between progress-bar updates"),
    ("--snapshot-interval", "snapshot_interval", int, "iterations between resumable snapshots"),
    ("--eval-batchsize", "eval_batchsize", int, "batch size for evaluation"),
]
_PRETRAIN = [
    ("--softmax", "softmax", str, "output layer: adaptive (default) or full"),
    ("--bptt-len", "bptt_len", int, "truncated BPTT length (paper: 35; upstream 100)"),
    ("--alpha-decay", "alpha_decay", float, "alpha factor when dev perplexity does not improve (paper: 0.9999)"),
    ("--max-train-tokens", "max_train_tokens", int, "train on a seeded subset of whole reviews (small preset)"),
    ("--max-iterations", "max_iterations", int, "stop after this many updates instead of --epoch"),
    ("--eval-tokens", "eval_tokens", int, "dev tokens used for perplexity (default: all)"),
    ("--eval-interval", "eval_interval", int, "iterations between dev evaluations (default: each epoch)"),
    ("--init", "init", str, "start every parameter from this LM (lm.npz): fine-tuning, e.g. with --conditional"),
]
_TRAIN = [
    ("--method", "method", str, "the perturbation method (`iadv methods` lists them)"),
    ("--eps", "eps", float, "epsilon, perturbation norm (paper: AdvT 5, iAdvT 15, SPGD 25; default by method)"),
    ("--eps-scale", "eps_scale", float,
     "multiplies the paper's epsilon when --eps is not given (paper preset 1; small 0.03, see docs/results.md)"),
    ("--n-neighbors", "n_neighbors", int, "K, nearest neighbours per word for iAdvT/SPGD (paper: 15)"),
    ("--sigma", "sigma", float, "sigma, SPGD sparsity: keep floor((1-sigma) L) words (paper: 0.75)"),
    ("--spgd-steps", "spgd_steps", int, "M, SPGD gradient steps of size eps/M (paper: 1)"),
    ("--adv-weight", "adv_weight", float, "lambda, weight of the adversarial loss (paper: 1)"),
    ("--neighbor-interval", "neighbor_interval", int, "refresh neighbours every N units (paper: 50 iterations)"),
    ("--neighbor-interval-unit", "neighbor_interval_unit", str, "iteration (paper) or epoch (upstream)"),
    ("--neighbor-mode", "neighbor_mode", str, "lazy (rows computed when first needed) or full table"),
    ("--perturbation-norm", "perturbation_norm", str,
     "exact: ||d_b|| = eps; upstream: g / sqrt(1e-6 + ||g||^2) (paper preset)"),
    ("--iadvt-weights", "iadvt_weights", str, "token (upstream) or review (paper eq. 6) normalisation"),
    ("--spgd-rank", "spgd_rank", str, "raw (Algorithm 1) or projected norms for SPGD sparsification"),
    ("--dropout-masks", "dropout_masks", str, "fresh (upstream) or shared masks for the adversarial pass"),
    ("--pretrained", "pretrained", str, "LM checkpoint (lm.npz from `iadv pretrain`) for embed + LSTM"),
    ("--fc-dim", "fc_dim", int, "hidden feed-forward layer size (paper: 30)"),
    ("--fc-bias", "fc_bias", float, "initial bias of that ReLU layer (paper: 0)"),
    ("--readout", "readout", str, "state the head reads: eos (paper: the final <eos>) or last_word"),
    ("--lr-decay", "lr_decay", float, "alpha factor after every update (paper/upstream: 0.9998)"),
    ("--lr-warmup", "lr_warmup", int, "linear alpha warm-up over the first N updates (paper: 0, none)"),
    ("--max-length", "max_length", int, "keep the last N ids of longer reviews (default: whole reviews)"),
    ("--max-train-examples", "max_train_examples", int, "train on a seeded subset of the training reviews"),
    ("--bucket-batches", "bucket_batches", int, "batches per length-sorting window (1 = plain random batches)"),
    ("--lm-term", "lm_term", str, "class-conditional LM (lm.npz from `iadv pretrain --conditional`): add the "
     "paper's eq. 9 term -log p_l(x|y) to the perturbation's gradient (beyond the paper)"),
    ("--lm-weight", "lm_weight", float, "beta, weight of the eq. 9 LM term (eq. 9: 1)"),
    ("--lm-input", "lm_input", str, "what the LM of --lm-term reads: offset (its own embeddings + d) or tied "
     "(the classifier's embeddings + d)"),
]

_TEST_OVERRIDES = {
    "pretrain": {"max_iterations": 20, "eval_tokens": 20000, "eval_interval": 10, "log_interval": 5,
                 "snapshot_interval": 10, "max_train_tokens": 200000},
    "train": {"max_train_examples": 200, "epoch": 1, "log_interval": 5, "snapshot_interval": 10},
}


def add_arguments(parser, section):
    parser.add_argument("--preset", default="small",
                        help="preset: %s, or a JSON file (default: small)" % ", ".join(PRESETS))
    small = dict(OPTIONAL_DEFAULTS[section], **load_preset("small", section))
    parser.add_argument("--out", "-o", dest="out", default=None,
                        help="output directory (default: the preset's; small: %s)" % small["out"])
    add_device_flag(parser, default=None, extra=" (default: the preset's; CPU except paper/upstream: GPU 0)")
    parser.add_argument("--epoch", "-e", dest="epoch", type=int, default=None,
                        help="training epochs (default: the preset's; small: %s)" % small["epoch"])
    parser.add_argument("--batchsize", "-b", dest="batchsize", type=int, default=None,
                        help="batch size, LM: parallel streams (default: the preset's; small: %s)" % small["batchsize"])
    parser.add_argument("--resume", default=None,
                        help="load this trainer snapshot (rerunning into the same --out resumes automatically)")
    parser.add_argument("--test", action="store_true", help="quick check: a few iterations on a small subset")
    parser.add_argument("--communicator", choices=COMMUNICATORS, default=None,
                        help="data-parallel training on ChainerMN, under `mpiexec -n N` (naive on CPUs, pure_nccl "
                             "on GPUs; chosen automatically under mpiexec); --batchsize is then per process")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no progress bar")
    extra = _PRETRAIN if section == "pretrain" else _TRAIN
    schema = SECTIONS[section]
    for flag, key, kind, text in _COMMON + extra:
        choices = schema[key].choices
        text += " (default: the preset's; small: %s)" % ("none" if small.get(key) is None else small.get(key))
        parser.add_argument(flag, dest=key, type=kind, default=None, help=text.replace("%", "%%"), choices=choices,
                            metavar="{%s}" % ",".join(choices) if choices else None)
    if section == "pretrain":
        parser.add_argument("--conditional", dest="conditional", action="store_true", default=None,
                            help="class-conditional LM p_l(x|y) (paper eq. 9): a label embedding added at every "
                                 "step, trained on the labelled training reviews (beyond the paper)")
    if section == "train":
        parser.add_argument("--towards-only", dest="towards_only", action="store_true", default=None,
                            help="SPGD: clamp a negative projection coefficient to 0 (never move away)")


def resolve_config(args, section):
    from interpretable_adv.presets import resolve

    overrides = {k: v for k, v in vars(args).items() if k not in ("handler", "command", "preset", "test")}
    if args.test:
        overrides = dict(_TEST_OVERRIDES[section], **{k: v for k, v in overrides.items() if v is not None})
    config = resolve(args.preset, section, overrides)
    config.setdefault("progress", True)
    return config


def run_training(args, section):
    """Resolve and check the configuration (before anything is written), train, print the results."""
    import json

    if section == "pretrain":
        from interpretable_adv.training.lm import train_language_model as train
    else:
        from interpretable_adv.training.classifier import train_classifier as train
    results = train(resolve_config(args, section))
    if results is not None:   # None on the ranks other than 0 of a data-parallel run
        print(json.dumps(results, indent=2))
    return 0
