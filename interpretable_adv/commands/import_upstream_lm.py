"""``iadv import-upstream-lm``: an upstream iAdvT LM checkpoint as our lm.npz, for ``iadv train --pretrained``."""

import os

from interpretable_adv.files import read_json
from interpretable_adv.upstream.lm_import import UpstreamImportError, import_upstream_lm, read_word_list

HELP = "turn an upstream LM checkpoint into our lm.npz"


def add_arguments(parser):
    parser.add_argument("checkpoint", help="upstream LM checkpoint (.npz with embed/W and rnn/0/w0..b7)")
    parser.add_argument("--upstream-vocab", default=None,
                        help="upstream's words in id order: a directory prepared with --vocab-order upstream, a "
                             "JSON list or {word: id} object, or a text file, one word per line "
                             "(default: --data's own vocabulary, i.e. --data was prepared with --vocab-order upstream)")
    parser.add_argument("--data", default=os.path.join("runs", "data", "imdb-upstream"),
                        help="our prepared dataset the classifier will train on")
    parser.add_argument("--out", "-o", default=os.path.join("runs", "upstream", "lm", "lm.npz"),
                        help="our LM checkpoint to write (give it to `iadv train --pretrained`)")


def run(args):
    from interpretable_adv.data import PreparedData, vocabulary_hash

    if os.path.isdir(args.out):
        raise UpstreamImportError("--out %s: is a directory; give the file to write, e.g. %s"
                                  % (args.out, os.path.join(args.out, "lm.npz")))
    data = PreparedData(args.data)
    if args.upstream_vocab is None:
        order = read_json(os.path.join(args.data, "vocab.json"), "vocabulary").get("vocab_order", "frequency")
        if order != "upstream":
            raise UpstreamImportError("%s numbers words by %s, not as upstream does: pass --upstream-vocab "
                                      "(upstream's word list), or prepare the data with --vocab-order upstream"
                                      % (args.data, order))
    upstream_words = read_word_list(args.upstream_vocab or args.data)
    summary = import_upstream_lm(args.checkpoint, upstream_words, data.vocab.words,
                                 vocabulary_hash(data.vocab.words), args.out)
    print("wrote %(out)s: %(rows)d rows (of %(upstream_rows)d upstream rows), D %(embed_dim)d, H %(hidden_dim)d"
          % summary)
    print("use it with: iadv train --preset upstream --pretrained %s --data %s" % (args.out, args.data))
    return 0

