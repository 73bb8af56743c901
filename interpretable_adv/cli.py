"""The ``iadv`` command: one subcommand per stage of the pipeline.

Every user error (a bad flag value, an unusable file or output path) ends in
one line on stderr, ``iadv COMMAND: error: MESSAGE``, and exit status 2,
before any work is done; see :mod:`interpretable_adv.errors`.
"""

import argparse
import errno
import os
import sys

from interpretable_adv.errors import TrainingDiverged, UsageError
from interpretable_adv.presets.schema import device_flag, flag_type


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``PROG: error: MESSAGE (see PROG --help)``), exit 2."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see %s --help)\n" % (self.prog, message, self.prog))


def build_parser():
    parser = OneLineParser(
        prog="iadv", description="Interpretable adversarial training for text (AdvT, iAdvT, SPGD) in Chainer.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from data_prep import cli as prepare_cli
    prepare = sub.add_parser("prepare", help="prepare IMDB: tokenise, split, vocabulary, Table 2",
                             description="Prepare IMDB (aclImdb v1) and print Table 2.")
    prepare_cli.add_arguments(prepare)
    prepare.set_defaults(handler=prepare_cli.run)

    from interpretable_adv import cli_training
    pretrain = sub.add_parser("pretrain", help="pretrain the LSTM language model (truncated BPTT)",
                              description="Pretrain the LSTM language model on train + unlabeled reviews.")
    cli_training.add_arguments(pretrain, "pretrain")
    pretrain.set_defaults(handler=cli_training.run_pretrain)
    train = sub.add_parser("train", help="train a classifier (Table 3)",
                           description="Train an LSTM classifier; test accuracy once with the best-on-dev model.")
    cli_training.add_arguments(train, "train")
    train.set_defaults(handler=cli_training.run_train)

    evaluate = sub.add_parser("evaluate",
                              help="Table 3 from the runs and Table 1 (LM perplexity of adversarial examples)",
                              description="Collect Table 3 and compute Table 1 on a fixed sample of test reviews.")
    evaluate.add_argument("--runs", default=os.path.join("runs", "small"),
                          help="directory holding baseline/, pretrained/, advt/, iadvt/, spgd/ runs")
    evaluate.add_argument("--lm", default=None, help="pretrained LM (default: RUNS/lm/lm.npz)")
    evaluate.add_argument("--data", default=None, help="prepared dataset (default: the one the runs used)")
    evaluate.add_argument("--out", "-o", default=None, help="output directory (default: RUNS/eval)")
    evaluate.add_argument("--sample", type=flag_type("int", low=1), default=200,
                          help="number of test reviews for Table 1")
    evaluate.add_argument("--seed", type=flag_type("int", low=0, high=2 ** 32 - 1), default=0,
                          help="seed of the sample")
    evaluate.add_argument("--device", "-d", default="-1", type=device_flag,
                          help="-1 or @numpy = CPU, N or @cupy:N = GPU N")
    evaluate.add_argument("--no-progress", dest="progress", action="store_false")
    evaluate.add_argument("--table3-only", action="store_true", help="only collect Table 3 from the runs")
    evaluate.set_defaults(handler=_run_evaluate)

    summarize = sub.add_parser("summarize", help="Tables 3 and 1 over seeds (RUNS/seedN/...): mean +- sd",
                               description="Aggregate the seedN/ run directories of a reproduction: Table 3 and "
                                           "Table 1 as mean +- sd with every seed's value, degenerate models "
                                           "flagged; writes RUNS/eval/{table3.md,table1.md,summary.json,table3.png}.")
    summarize.add_argument("--runs", default=os.path.join("runs", "small"), help="directory holding seedN/")
    summarize.add_argument("--data", default=None, help="prepared dataset (default: the one the runs used)")
    summarize.add_argument("--out", "-o", default=None, help="output directory (default: RUNS/eval)")
    summarize.set_defaults(handler=_run_summarize)

    from interpretable_adv import interpret
    show = sub.add_parser("interpret", help="show a test review and its adversarial versions (changed words marked)",
                          description=interpret.__doc__.splitlines()[0])
    interpret.add_arguments(show)
    show.set_defaults(handler=interpret.run_interpret)

    from interpretable_adv import benchmarks
    bench = sub.add_parser("bench", help="speed and memory of every costly stage (table + JSON)",
                           description=benchmarks.__doc__.splitlines()[0])
    benchmarks.add_arguments(bench)
    bench.set_defaults(handler=benchmarks.run)

    from interpretable_adv import upstream
    compare = sub.add_parser("compare-upstream", help="our run beside upstream iAdvT logs: comparison.md + plot",
                             description="Put one of our runs beside upstream iAdvT training logs.")
    upstream.add_compare_arguments(compare)
    compare.set_defaults(handler=upstream.run_compare)
    imp = sub.add_parser("import-upstream-lm", help="turn an upstream LM checkpoint into our lm.npz",
                         description="Import an upstream iAdvT language-model checkpoint "
                                     "for `iadv train --pretrained`.")
    upstream.add_import_arguments(imp)
    imp.set_defaults(handler=upstream.run_import)

    from data_prep import synthetic
    synth = sub.add_parser("synthetic", help="write a small synthetic aclImdb-like corpus (offline demos, tests)",
                           description=synthetic.__doc__.splitlines()[0])
    synthetic.add_arguments(synth)
    synth.set_defaults(handler=synthetic.run)
    return parser


def _run_evaluate(args):
    from interpretable_adv.report import check_output_dir, data_dir_of_runs, run_evaluation

    lm = args.lm or os.path.join(args.runs, "lm", "lm.npz")
    data = args.data or data_dir_of_runs(args.runs)
    out = args.out or os.path.join(args.runs, "eval")
    if data is None:
        raise UsageError("%s: no run with args.json found (pass --runs with the training runs, or --data)" % args.runs)
    if args.table3_only:
        from interpretable_adv.files import atomic_write_text
        from interpretable_adv.report import degenerate_warnings, is_paper_imdb, table3, table3_markdown
        check_output_dir(out)
        rows = table3(args.runs)
        for line in degenerate_warnings(rows, args.runs.rstrip("/") + "/"):
            print(line, file=sys.stderr)
        os.makedirs(out, exist_ok=True)
        atomic_write_text(os.path.join(out, "table3.md"), table3_markdown(rows, is_paper_imdb(data)))
    else:
        run_evaluation(args.runs, lm, data, out, args.sample, args.seed, args.device, args.progress)
    for name in ("table3.md",) if args.table3_only else ("table3.md", "table1.md"):
        with open(os.path.join(out, name)) as f:
            print(f.read())
    print("written to %s (%s)" % (out, "table3.md" if args.table3_only
                                   else "results.json, table1.md, table3.md, examples.jsonl"))
    return 0


def _run_summarize(args):
    from interpretable_adv.summary import summarize

    out = args.out or os.path.join(args.runs, "eval")
    summary = summarize(args.runs, out, args.data)
    names = ("table3.md", "table1.md") if summary["table1"] is not None else ("table3.md",)
    for name in names:
        with open(os.path.join(out, name)) as f:
            print(f.read())
    print("written to %s (summary.json, table3.png, %s)" % (out, ", ".join(names)))
    return 0


# OS errors that are the user's environment, not a bug: reported in one line like a usage error.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
                       errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EMFILE}


def main(argv=None):
    """Run one subcommand; returns its exit status (0 success, 2 user error, 1 training diverged)."""
    from data_prep.errors import PrepareError

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # log lines reach redirected files promptly
    args = build_parser().parse_args(argv)
    prefix = "iadv %s: error: " % args.command
    try:
        return args.handler(args)
    except (UsageError, PrepareError) as exc:
        print(prefix + one_line(exc), file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(prefix + one_line(exc), file=sys.stderr)
        return 1
    except Exception as exc:
        cause = environment_error(exc)
        if cause is None:
            raise
        where = " (%s)" % cause.filename if cause.filename else ""
        print(prefix + "%s%s" % (cause.strerror or cause, where), file=sys.stderr)
        return 2


def environment_error(exc):
    """The OSError of the user's environment (disk full, no permission...) behind ``exc``, or None.

    Follows the exception's context: a full disk during ``np.savez`` surfaces
    as ``ValueError: seek of closed file`` raised while handling the ENOSPC.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def one_line(exc):
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
