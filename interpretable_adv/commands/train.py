"""``iadv train``: train one classifier (a Table 3 row); test accuracy once, with the best-on-dev model."""

import json

from interpretable_adv.commands import training_flags

HELP = "train a classifier: Baseline, Pretrained, AdvT, iAdvT or SPGD (Table 3)"


def add_arguments(parser):
    training_flags.add_arguments(parser, "train")


def run(args):
    from interpretable_adv.training.classifier import train_classifier

    results = train_classifier(training_flags.resolve_config(args, "train"))
    if results is not None:   # None on the ranks other than 0 of a data-parallel run
        print(json.dumps(results, indent=2))
    return 0
