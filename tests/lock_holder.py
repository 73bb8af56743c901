"""Hold an output's lock as a running ``iadv`` command would, until stdin closes (for tests/test_concurrency.py).

    python tests/lock_holder.py DIR [--beside] -- iadv train -o DIR ...

Takes :class:`interpretable_adv.locking.OutputLock` on DIR with the given
command line recorded as the holder's, prints ``held PID`` and waits.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    split = sys.argv.index("--")
    options, command = sys.argv[1:split], sys.argv[split + 1:]
    from interpretable_adv.locking import OutputLock

    sys.argv = command   # what the lock file records as the holder's command line
    with OutputLock(options[0], beside="--beside" in options):
        print("held %d" % os.getpid(), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
