"""Hyperparameter studies on Optuna (``iadv tune``): search spaces, studies and their trials.

:mod:`~interpretable_adv.tuning.space` turns ``--space KEY=SPEC`` into
Optuna distributions checked by the ``train`` schema;
:mod:`~interpretable_adv.tuning.study` holds a study's storage, its budget,
its workers and the objective (one ordinary ``iadv train`` run per trial).
"""
