"""IMDB (aclImdb v1) preparation: tokenise, split, build the vocabulary, Table 2.

The entry point is :func:`data_prep.prepare.prepare_imdb`; ``iadv prepare`` is
its command-line face. See DESIGN.md section 3 for the rules implemented here.
"""
