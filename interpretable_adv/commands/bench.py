"""``iadv bench``: speed and memory of every costly stage (tables + JSON); see :mod:`interpretable_adv.benchmarking`."""

import json
import os
import time

from interpretable_adv import methods
from interpretable_adv.benchmarking.plan import SECTIONS, measure, plan
from interpretable_adv.benchmarking.tables import machine_info, tables
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_text
from interpretable_adv.locking import OutputLock
from interpretable_adv.keys import add_device_flag, flag_type

HELP = "speed and memory of every costly stage (table + JSON)"


def add_arguments(parser):
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="what to measure (see `interpretable_adv.benchmarking`)")
    parser.add_argument("--sizes", nargs="+", default=["small"], choices=("small", "paper", "tiny"),
                        help="presets to measure")
    parser.add_argument("--methods", nargs="+", choices=methods.names(), default=list(methods.names()),
                        help="classifier rows to time")
    parser.add_argument("--data", default=os.path.join("runs", "data", "imdb"), help="prepared IMDB")
    parser.add_argument("--steps", type=flag_type("int", low=1), default=50,
                        help="timed update steps per classifier/LM measurement (50 = one neighbour refresh window)")
    parser.add_argument("--paper-steps", type=flag_type("int", low=1), default=1,
                        help="timed steps at the paper size on CPU (one update takes 7-18 s there)")
    parser.add_argument("--vocab-sizes", nargs="+", type=flag_type("int", low=2), default=[10000, 30000, 87008],
                        help="vocabulary sizes V for the neighbour section")
    parser.add_argument("--dim", type=flag_type("int", low=1), default=256,
                        help="embedding size for the neighbour section")
    parser.add_argument("-k", type=flag_type("int", low=1), default=15, help="neighbours per word (K)")
    parser.add_argument("--window-rows", type=flag_type("int", low=1), default=15000,
                        help="rows one 50-iteration window needs (the small iAdvT run averaged about 15k)")
    parser.add_argument("--naive-limit-gib", type=flag_type("float", low=0.0), default=12.0,
                        help="run the naive V x V version only when its matrix fits in this many GiB")
    add_device_flag(parser)
    parser.add_argument("--timeout", type=flag_type("float", low=0.0, low_open=True), default=1800,
                        help="seconds allowed per measurement")
    parser.add_argument("--out", "-o", default=os.path.join("runs", "bench"),
                        help="writes bench.json and bench.md here")


def run(args):
    needs_data = set(args.sections) & {"classifier", "lm"}
    if needs_data and not os.path.isfile(os.path.join(args.data, "vocab.json")):
        raise UsageError("%s is not a prepared dataset (run `iadv prepare` first, or pass --data; "
                         "or leave out --sections classifier lm)" % args.data)
    if set(args.sections) & {"neighbors", "topk"} and args.k >= min(args.vocab_sizes):
        raise UsageError("-k %d must be below every --vocab-sizes value" % args.k)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError("--out %s: exists and is not a directory" % args.out)
    specs = plan(args)
    with OutputLock(args.out):   # one bench per output directory
        return _measure_and_write(args, specs)


def _measure_and_write(args, specs):
    records = []
    for i, spec in enumerate(specs, 1):
        label = " ".join("%s=%s" % (k, v) for k, v in spec.items() if k not in ("device", "data", "section"))
        print("[%d/%d] %s %s ..." % (i, len(specs), spec["section"], label), end=" ", flush=True)
        start = time.perf_counter()
        record = spec if "skipped" in spec else measure(spec, args.timeout)
        records.append(record)
        print("%s (%.0f s)" % ("skipped" if "skipped" in record else record.get("error", "ok"),
                               time.perf_counter() - start), flush=True)
    report = {"machine": machine_info(args.device), "args": vars(args), "records": records}
    text = tables(records)
    for name, content in (("bench.json", json.dumps(report, indent=1, default=str)), ("bench.md", text)):
        atomic_write_text(os.path.join(args.out, name), content)
    print()
    print(text)
    print("written to %s (bench.json, bench.md)" % args.out)
    return 0 if not any("error" in r for r in records) else 1

