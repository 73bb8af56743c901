"""Figures: perturbation heatmaps (Figures 2-4) and the SPGD schematic (Figure 1) from real numbers."""

import os

import numpy as np

from interpretable_adv import methods


FIGURE_FORMATS = ("png", "pdf", "svg")


def save_figure(fig, path, dpi=130):
    """``fig.savefig(path)`` atomically (a killed run leaves no half-written image), then closes ``fig``."""
    from interpretable_adv.files import atomic_path

    extension = os.path.splitext(path)[1].lower().lstrip(".")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:   # a file and a format: savefig would append ".png" to a name without one
            fig.savefig(f, dpi=dpi, format=extension if extension in FIGURE_FORMATS else "png")
    _pyplot().close(fig)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def choose_window(records, width):
    """Start of the ``width``-token window with the largest total perturbation of the first sparse method's row
    (SPGD's), else of the first row."""
    sparse = [name for name in records if methods.get(methods.row(name).method).sparse]
    key = sparse[0] if sparse else next(iter(records))
    norms = np.asarray(records[key]["norms"])
    if len(norms) <= width:
        return 0
    sums = np.convolve(norms, np.ones(width), mode="valid")
    return int(sums.argmax())


def heatmap_figure(tokens, records, path, width=18, title=None):
    """Figures 2-4: per-token perturbation norms, one row per method.

    Each cell shows the ``direction`` word and, in parentheses, the ``nearest``
    word; the original review runs along the bottom.
    """
    plt = _pyplot()
    start = choose_window(records, width)
    stop = min(len(tokens), start + width)
    shown = [m for m in (r.name for r in methods.perturbed_rows()) if m in records]
    grid = np.array([np.asarray(records[m]["norms"])[start:stop] for m in shown])
    fig, ax = plt.subplots(figsize=(max(8, 1.05 * (stop - start)), 1.2 + 1.0 * len(shown)))
    image = ax.imshow(grid, cmap="Reds", aspect="auto", vmin=0)
    dark = 0.6 * max(float(grid.max()), 1e-12)
    for row, method in enumerate(shown):
        for col in range(stop - start):
            position = start + col
            text = "%s\n(%s)" % (records[method]["direction_words"][position], records[method]["nearest_words"][position])
            ax.text(col, row, text, ha="center", va="center", fontsize=7,
                    color="white" if grid[row, col] > dark else "black")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([methods.short_title(m) + ("\n(eps %.3g)" % records[m]["eps"] if "eps" in records[m] else "")
                        for m in shown])
    ax.set_xticks(range(stop - start))
    ax.set_xticklabels(tokens[start:stop], rotation=45, ha="right", fontsize=8)
    fig.colorbar(image, ax=ax, label="||d_t||")
    if title:
        ax.set_title("%s, tokens %d-%d" % (title, start, stop - 1))
    fig.text(0.01, 0.01, "cell: the word Table 1's `direction` turns it into, in parentheses the `nearest` word to "
             "x_t + d_t; colour: ||d_t|| (white text on dark cells); bottom: the original words", fontsize=7,
             color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(fig, path)
    return path


def figure1(example, path):
    """Figure 1 redrawn from a computed two-word example.

    ``example`` (from :func:`spgd_two_word_example`): per word, the raw step
    ``r_t``, its neighbour directions ``u_tk`` with their words, the chosen
    projection ``rhat_t`` and whether sparsification kept it. Each panel is the
    plane spanned by ``r_t`` and the chosen direction.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(example["words"]), figsize=(5.5 * len(example["words"]), 5))
    for ax, word in zip(np.atleast_1d(axes), example["words"]):
        r, rhat, u = np.asarray(word["r"]), np.asarray(word["rhat"]), np.asarray(word["directions"])
        best = word["best"]
        e1 = u[best] / np.linalg.norm(u[best])
        rest = r - (r @ e1) * e1
        e2 = rest / np.linalg.norm(rest) if np.linalg.norm(rest) > 1e-9 else np.zeros_like(r)
        scale = float(np.linalg.norm(r)) or 1.0

        def plane(v):
            return np.array([v @ e1, v @ e2])

        cosines = [float(r @ d / (np.linalg.norm(r) * np.linalg.norm(d) or 1.0)) for d in u]
        for k, (direction, name) in enumerate(zip(u, word["neighbor_words"])):
            p = plane(direction) * scale
            ax.annotate("", xy=p, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="0.7" if k != best else "C0"))
            if k == best:
                ax.text(*(p * 1.08), name, fontsize=9, color="C0", fontweight="bold")
        ranked = sorted(range(len(u)), key=lambda k: -cosines[k])   # the cosines in full space, largest first
        ax.text(0.99, 0.01, "cosine with r\n" + "\n".join(
            "%s %+.2f%s" % (word["neighbor_words"][k], cosines[k], "  <- chosen" if k == best else "")
            for k in ranked[:6]) + ("\n..." if len(u) > 6 else ""), transform=ax.transAxes, ha="right", va="bottom",
            fontsize=8, family="monospace", color="0.3")
        ax.annotate("", xy=plane(r), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="C3", lw=2))
        ax.text(*(plane(r) * 1.05), "r (AdvT step)", color="C3", fontsize=9)
        if word["kept"]:
            ax.annotate("", xy=plane(rhat), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="C2", lw=2))
            ax.text(*(plane(rhat) * 0.5 + np.array([0, -0.08 * scale])), "projection (kept)", color="C2", fontsize=9)
        else:
            ax.plot(*plane(rhat), "x", color="C2")
            ax.text(*(plane(rhat) * 0.5 + np.array([0, -0.08 * scale])), "projection (zeroed)", color="C2", fontsize=9)
        ax.plot(0, 0, "ko")
        ax.text(0, 0, "  " + word["word"], fontsize=11, fontweight="bold")
        ax.set_aspect("equal")
        ax.set_title("'%s': ||r|| = %.2f, %s" % (word["word"], np.linalg.norm(r), "kept" if word["kept"] else "zeroed"))
        limit = 1.3 * scale
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.axis("off")
    fig.suptitle("SPGD on a two-word review (sigma = %.2f keeps %d of 2): step, projection onto one neighbour "
                 "direction, sparsification" % (example["sigma"], example["kept_count"]))
    fig.text(0.5, 0.01, "Each panel is the plane of r and the chosen direction (blue): the other directions are "
             "drawn projected onto it (grey), so their length is not their closeness. The list gives each direction's "
             "cosine with r in the full space; SPGD picks the largest.", ha="center", fontsize=8,
             color="0.3", wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    save_figure(fig, path)
    return path
