"""The ``iadv`` command: one subcommand per stage of the pipeline."""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
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

    from data_prep import synthetic
    synth = sub.add_parser("synthetic", help="write a small synthetic aclImdb-like corpus (offline demos, tests)",
                           description=synthetic.__doc__.splitlines()[0])
    synthetic.add_arguments(synth)
    synth.set_defaults(handler=synthetic.run)
    return parser


def main(argv=None):
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # log lines reach redirected files promptly
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
