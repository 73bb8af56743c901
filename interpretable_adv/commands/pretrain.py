"""``iadv pretrain``: pretrain the LSTM language model (truncated BPTT) on train + unlabeled reviews."""

import json

from interpretable_adv.commands import training_flags

HELP = "pretrain the LSTM language model (truncated BPTT)"


def add_arguments(parser):
    training_flags.add_arguments(parser, "pretrain")


def run(args):
    from interpretable_adv.training.lm import train_language_model

    results = train_language_model(training_flags.resolve_config(args, "pretrain"))
    if results is not None:   # None on the ranks other than 0 of a data-parallel run
        print(json.dumps(results, indent=2))
    return 0
