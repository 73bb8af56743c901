"""``iadv prepare``: tokenise, split and number IMDB (aclImdb v1), print Table 2 (:func:`data_prep.pipeline.prepare_imdb`)."""

import os
import sys
import time

from data_prep.tokenize import TOKENIZERS

HELP = "prepare IMDB: tokenise, split, vocabulary, Table 2"
DEFAULT_OUT = os.path.join("runs", "data", "imdb")
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "interpretable_adv")


def add_arguments(parser):
    parser.add_argument("sources", nargs="*", metavar="SOURCE",
                        help="aclImdb_v1.tar.gz, an aclImdb/ directory, or archives forming aclImdb/ "
                             "(files, or the directory holding them, e.g. ../shared/data/imdb)")
    parser.add_argument("--out", "-o", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    parser.add_argument("--download", action="store_true",
                        help="download the official aclImdb_v1.tar.gz (checksum-verified) into --cache-dir")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE, help="where --download stores the tarball")
    parser.add_argument("--tokenizer", choices=TOKENIZERS, default="regex",
                        help="regex: split on \\W+, keep case (the paper's; reproduces Table 2); "
                             "treebank: nltk Treebank, contractions split, punctuation dropped")
    parser.add_argument("--min-df", type=int, default=2,
                        help="minimum document frequency over train + unlabeled (paper: 2, hapax dropped)")
    parser.add_argument("--oov", choices=("drop", "unk"), default="drop",
                        help="out-of-vocabulary tokens: drop them (default) or map them to <unk>")
    parser.add_argument("--vocab-order", choices=("frequency", "upstream"), default="frequency",
                        help="word ids by decreasing frequency (default), or as upstream iAdvT numbers them: "
                             "first appearance over train/pos, train/neg, train/unsup in file-name order "
                             "(same words, <eos> = 0, <unk> = 1; lets upstream checkpoints load by id)")
    parser.add_argument("--workers", "-j", type=int, default=None,
                        help="processes, >= 1, at most the number of CPUs (default: all cores)")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even if --out holds a matching dataset; only replaces an empty directory "
                             "or one prepared by `iadv prepare` (marked by .iadv-prepared)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def run(args):
    from data_prep.pipeline import check_options, check_out_against_sources, prepare_imdb

    # Bad values fail before any work (download included); --workers above the CPU count is capped.
    workers, note = check_options(tokenizer=args.tokenizer, min_df=args.min_df, oov=args.oov,
                                  workers=args.workers, vocab_order=args.vocab_order)
    if note:
        print(note, file=sys.stderr)
    sources = list(args.sources)
    if args.download:
        from data_prep.sources import download_official
        # --out must not swallow the download either; checked before anything is fetched
        check_out_against_sources(args.out, sources + [os.path.join(args.cache_dir, "aclImdb_v1.tar.gz")])
        sources.append(download_official(args.cache_dir))
    start = time.time()
    stats, reused = prepare_imdb(sources, args.out, tokenizer=args.tokenizer, min_df=args.min_df,
                                 oov=args.oov, workers=workers, force=args.force,
                                 vocab_order=args.vocab_order,
                                 progress=not args.quiet,
                                 log=(lambda message: None) if args.quiet else None)
    with open(os.path.join(args.out, "stats.md"), encoding="utf-8") as f:
        print(f.read())
    if reused:
        print("reused %s (same inputs and options; --force rebuilds)" % args.out)
    else:
        print("prepared %s in %.1f s" % (args.out, time.time() - start))
    return 0
