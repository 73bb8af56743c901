"""Run one classifier training under mpiexec (for tests/test_distributed.py).

    mpiexec -n 2 python tests/mpi_train.py CONFIG_JSON [--kill-at N] [--guard-writes]

``CONFIG_JSON``: overrides of the tiny preset's ``train`` section. ``--kill-at N``
stops every rank after update N (a crash). ``--guard-writes``: on ranks other
than 0, any attempt to create or replace a file under ``--out`` raises.
"""

import argparse
import builtins
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guard_writes(out):
    """Make every file write under ``out`` fail in this process (Chainer's Trainer may still create the directory)."""
    import numpy as np

    out = os.path.abspath(out)

    def inside(path):
        return os.path.abspath(str(path)).startswith(out)

    real_open, real_replace, real_savez = builtins.open, os.replace, np.savez

    def guarded_open(path, mode="r", *args, **kwargs):
        if inside(path) and any(flag in mode for flag in "wax+"):
            raise AssertionError("rank > 0 wrote %s" % path)
        return real_open(path, mode, *args, **kwargs)

    def guarded(function):
        def call(path, *args, **kwargs):
            if inside(path):
                raise AssertionError("rank > 0 wrote %s" % path)
            return function(path, *args, **kwargs)
        return call

    builtins.open = guarded_open
    os.replace, np.savez = guarded(real_replace), guarded(real_savez)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--guard-writes", action="store_true")
    args = parser.parse_args()
    from interpretable_adv.presets import resolve
    from interpretable_adv.training.classifier import train_classifier
    from tests.helpers import KillAt

    config = resolve("tiny", "train", dict(json.loads(args.config), communicator="naive", progress=False))
    from mpi4py import MPI
    if args.guard_writes and MPI.COMM_WORLD.rank != 0:
        guard_writes(config["out"])
    extra = [(KillAt(at=args.kill_at), (1, "iteration"))] if args.kill_at else []
    try:
        train_classifier(config, extra_extensions=extra)
    except KeyboardInterrupt:
        sys.exit(3)


if __name__ == "__main__":
    main()
