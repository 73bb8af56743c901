#!/usr/bin/env python
"""Run a command and report its wall time and the peak total RSS of its process tree.

``/usr/bin/time`` reports the largest single process; preparation runs a pool of
workers beside the main process, so this samples the sum over the whole tree.

    python experiments/peakmem.py -- iadv prepare ../shared/data/imdb -o /tmp/imdb --force
"""

import subprocess
import sys
import time


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root):
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(_children(pid))
    return total


def main(argv):
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print(__doc__)
        return 2
    start = time.time()
    proc = subprocess.Popen(argv)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(0.05)
    wall = time.time() - start
    print("wall %.1f s, peak tree RSS %.0f MiB, exit %d" % (wall, peak / 1024, proc.returncode), file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
