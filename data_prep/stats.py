"""Table 2 of the paper (IMDB dataset information): ours beside the paper's."""

import numpy as np

# Barham & Feizi (2019), Table 2; the unlabeled lengths are not given ("N/A").
PAPER_TABLE2 = {
    "train": {"examples": 21246, "min": 12, "max": 2505, "avg": 242.44},
    "dev": {"examples": 3754, "min": 11, "max": 1101, "avg": 239.86},
    "test": {"examples": 25000, "min": 7, "max": 2379, "avg": 235.59},
    "unlabeled": {"examples": 50000, "min": None, "max": None, "avg": None},
}
PAPER_VOCAB_SIZE = 87008

LENGTH_DEFINITION = ("length = in-vocabulary tokens of a review + 1 for <eos>; "
                     "out-of-vocabulary tokens are dropped unless --oov unk")


def split_statistics(lengths):
    """Count, min, max and mean (2 decimals) of per-review lengths."""
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        return {"examples": 0, "min": None, "max": None, "avg": None, "tokens": 0}
    return {
        "examples": int(lengths.size),
        "min": int(lengths.min()),
        "max": int(lengths.max()),
        "avg": round(float(lengths.mean()), 2),
        "tokens": int(lengths.sum()),
    }


def table2_markdown(table, vocab_size):
    """Markdown Table 2 with each figure as ``ours (paper)`` and a match mark."""
    rows = [("Num. examples", "examples"), ("Min. sequence length", "min"),
            ("Max. sequence length", "max"), ("Avg. sequence length", "avg")]
    splits = ("train", "dev", "test", "unlabeled")
    lines = ["| | Train | Dev | Test | Unlabeled |", "|---|---|---|---|---|"]
    for title, key in rows:
        cells = []
        for split in splits:
            ours = table[split][key]
            paper = PAPER_TABLE2[split][key]
            if ours is None:
                cells.append("-")
                continue
            text = "{:,.2f}".format(ours) if key == "avg" else "{:,}".format(ours)
            if paper is None:
                cells.append("%s (paper: N/A)" % text)
            else:
                mark = "=" if ours == paper else "!="
                paper_text = "{:,.2f}".format(paper) if key == "avg" else "{:,}".format(paper)
                cells.append("%s %s %s" % (text, mark, paper_text))
        lines.append("| %s | %s |" % (title, " | ".join(cells)))
    mark = "=" if vocab_size == PAPER_VOCAB_SIZE else "!="
    lines.append("")
    lines.append("|V| = {:,} {} paper {:,} (words with document frequency >= min_df, plus <eos> and <unk>)".format(
        vocab_size, mark, PAPER_VOCAB_SIZE))
    lines.append("")
    lines.append("Cells read `ours = paper` or `ours != paper`; " + LENGTH_DEFINITION + ".")
    return "\n".join(lines) + "\n"


def matches_paper(table, vocab_size):
    """True when |V| and every published figure of Table 2 are reproduced exactly."""
    if vocab_size != PAPER_VOCAB_SIZE:
        return False
    return all(table[s][k] == v for s, row in PAPER_TABLE2.items() for k, v in row.items() if v is not None)
