"""``iadv train``: train one classifier (a Table 3 row); test accuracy once, with the best-on-dev model."""

from interpretable_adv.commands import training_flags

HELP = "train a classifier: Baseline, Pretrained, AdvT, iAdvT or SPGD (Table 3)"


def add_arguments(parser):
    training_flags.add_arguments(parser, "train")


def run(args):
    return training_flags.run_training(args, "train")
