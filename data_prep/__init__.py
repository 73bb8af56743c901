"""IMDB (aclImdb v1) preparation: tokenise, split, build the vocabulary, Table 2.

The entry point is :func:`data_prep.pipeline.prepare_imdb`; ``iadv prepare`` is
its command-line face (:mod:`interpretable_adv.commands.prepare`); docs/design.md describes the rules.
"""
