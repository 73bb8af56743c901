"""``iadv pretrain``: pretrain the LSTM language model (truncated BPTT) on train + unlabeled reviews."""

from interpretable_adv.commands import training_flags

HELP = "pretrain the LSTM language model (truncated BPTT)"


def add_arguments(parser):
    training_flags.add_arguments(parser, "pretrain")


def run(args):
    return training_flags.run_training(args, "pretrain")
