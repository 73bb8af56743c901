#!/usr/bin/env python
"""Write a training log in upstream iAdvT's format (for trying `iadv compare-upstream` without upstream).

    python experiments/synthetic_upstream_log.py --dev 81.5 85.2 86.0 --test 80.9 84.8 85.7 \\
        --minutes-per-epoch 95 -o runs/upstream-small/synthetic_upstream.log

The numbers are whatever you pass: this is a format example, not a result.
Lines follow the upstream logging format (DATE TIME,ms : MainThread : INFO : MESSAGE),
with a neighbour refresh at the start of every epoch.
"""

import argparse
import datetime


def log_lines(dev, test, minutes_per_epoch, start, steps_per_epoch=664, vocab=87008):
    lines = ["vocab:%d" % vocab, "train_vocab_size: 66825"]

    def log(when, message):
        lines.append("%s,%03d : MainThread : INFO : %s" % (when.strftime("%Y-%m-%d %H:%M:%S"), 0, message))

    best = 0.0
    for epoch, (d, t) in enumerate(zip(dev, test)):
        begin = start + datetime.timedelta(minutes=epoch * minutes_per_epoch)
        end = begin + datetime.timedelta(minutes=minutes_per_epoch)
        log(begin, "epoch:%d" % epoch)
        log(begin, "start finding nearest words...")
        log(begin + datetime.timedelta(seconds=30), "[finish!]")
        lines.append("good\t\tgreat,nice,decent")
        step = steps_per_epoch * (epoch + 1)
        log(end - datetime.timedelta(seconds=60), " [train] sum_loss: %.4f" % (0.7 - 0.05 * epoch))
        log(end - datetime.timedelta(seconds=60), " [train] apha:%.8f, global_step:%d" % (0.001 * 0.9998 ** step, step))
        log(end - datetime.timedelta(seconds=60), " [train] accuracy:%.2f" % (d - 3.0))
        log(end - datetime.timedelta(seconds=30), " [dev] accuracy:%.2f" % d)
        if d > best:
            log(end - datetime.timedelta(seconds=30), "%s => %s" % (best, d))
            best = d
        log(end, " [test] accuracy:%.2f" % t)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=float, nargs="+", required=True, help="dev accuracy (%%) per epoch")
    parser.add_argument("--test", type=float, nargs="+", required=True, help="test accuracy (%%) per epoch")
    parser.add_argument("--minutes-per-epoch", type=float, default=60.0)
    parser.add_argument("--out", "-o", required=True)
    args = parser.parse_args()
    if len(args.dev) != len(args.test):
        parser.error("--dev and --test need one value per epoch each")
    lines = log_lines(args.dev, args.test, args.minutes_per_epoch, datetime.datetime(2018, 5, 1, 9, 0, 0))
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d epochs)" % (args.out, len(args.dev)))


if __name__ == "__main__":
    main()
