"""Table 1: how natural the adversarial examples are, measured by the language model's perplexity.

On one fixed random sample of test reviews, every adversarially trained
classifier (AdvT, iAdvT, SPGD; and, beyond the paper, AdvT and SPGD with
equation 9's LM term) perturbs each review as in its training (its
:class:`~interpretable_adv.perturbation.Perturbation`: own eps, K, sigma,
normalisation, M; gradient of the true label's cross-entropy, dropout off).
The perturbed reviews are turned back into words or read as they are by the
pretrained LM, state reset per review, ``<eos>`` counted:

* ``direction`` (headline; Sato et al.'s interpretation, the first word in
  Figures 2-4): each perturbed token becomes the neighbour whose direction
  ``u_k`` has the highest cosine with ``d_t``; unperturbed tokens keep their word;
* ``nearest``: each token becomes the vocabulary word nearest (Euclidean) to
  ``x_t + d_t``;
* ``continuous``: the LM reads ``E_lm[w] + d``.
"""

import chainer
import chainer.functions as F
import numpy as np

from interpretable_adv import adversarial as adv
from interpretable_adv import methods
from interpretable_adv.data import EOS_ID
from interpretable_adv.lstm import lstm_sequences
from interpretable_adv.methods import Batch
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.perturbation import BatchLayout, Perturbation, virtual_gradient_function

VARIANTS = ("direction", "nearest", "continuous")


HEADLINE = "direction"
TITLE = "# Table 1: adversarial quality (LM perplexity)"

# ``moved_share``'s threshold: a token counts as moved when its step exceeds this share of its embedding's norm.
MOVED_SHARE_THRESHOLD = 0.01

DEFINITIONS = {
    "perplexity": "per-word LM perplexity exp(sum NLL / tokens) over the sample (<eos> counted, "
                  "state reset per review, <eos> as the start symbol)",
    "gap": "perplexity of the adversarial versions minus that of the original reviews",
    "words_changed": "share of tokens whose discretised word differs from the original",
    "flip_rate": "share of reviews whose predicted label differs from the prediction on the original",
    "direction": "each perturbed token -> the neighbour whose direction has the highest cosine with d_t "
                 "(headline; Sato et al.'s interpretation, the first word in Figures 2-4)",
    "nearest": "each token -> the vocabulary word nearest (Euclidean) to x_t + d_t",
    "continuous": "the LM reads E_lm[w] + d (the classifier's d added to the LM's embeddings); "
                  "targets are the original words; flips use the classifier on x + d",
    "perturbed_share": "share of tokens with d_t != 0, counted exactly (the tokens `direction` may change)",
    "moved_share": "share of tokens with ||d_t|| > %g x ||E[w_t]|| (moved by more than %g%% of the word's own "
                   "embedding norm)" % (MOVED_SHARE_THRESHOLD, 100 * MOVED_SHARE_THRESHOLD),
}
# The paper's Table 1 perplexity of the original reviews (each method's own is in its recipe: methods.paper_table1).
PAPER_ORIGINAL_PERPLEXITY = 117.93



# ----------------------------------------------------------------------------- discretisation

def discretize_nearest(points, embeddings, block_size=512):
    """Id of the vocabulary row nearest (Euclidean) to each of ``points`` (N, D)."""
    xp = chainer.backend.get_array_module(points)
    squared = (embeddings * embeddings).sum(axis=1)
    out = xp.empty(len(points), dtype=xp.int32)
    for start in range(0, len(points), block_size):
        block = points[start:start + block_size]
        distances = squared[None, :] - 2.0 * (block @ embeddings.T)   # ||p||^2 is constant per row
        out[start:start + block_size] = distances.argmin(axis=1)
    return out


def discretize_direction(perturbation, word_ids, neighbor_ids, embeddings):
    """Per token: the neighbour whose direction is closest (cosine) to ``d_t``; unperturbed tokens stay.

    ``perturbation`` (N, D), ``word_ids`` (N,), ``neighbor_ids`` the (V, K) table.
    """
    xp = chainer.backend.get_array_module(perturbation)
    directions = adv.neighbor_directions(embeddings, word_ids, neighbor_ids)       # (N, K, D) unit
    norms = xp.sqrt((perturbation * perturbation).sum(axis=1))
    cosines = (directions * perturbation[:, None, :]).sum(axis=2) / xp.maximum(norms, 1e-12)[:, None]
    best = neighbor_ids[word_ids, cosines.argmax(axis=1)]
    return xp.where(norms > 0, best, word_ids).astype(xp.int32)



# ----------------------------------------------------------------------------- perturbing one review

def review_gradient(classifier, ids, label, shift=None):
    """dL/dx (L_b, D) of the cross-entropy with the true label at ``x`` (or ``x + shift``); dropout off."""
    with chainer.using_config("train", False):
        x = classifier.embed_reviews([ids]).array
        x = chainer.Variable(x if shift is None else x + shift)
        loss = F.softmax_cross_entropy(classifier.logits_from_embeddings(x, [len(ids)]),
                                       classifier.xp.asarray([label], dtype=np.int32))
        (grad,) = chainer.grad([loss], [x])
    return grad.array


def perturb_review(classifier, ids, label, perturbation, neighbors=None):
    """``d`` (L_b, D) of one review by the run's ``perturbation``, as in its training (weights fixed, dropout off).

    A virtual adversarial method (VAT family) reads no label: its direction is
    that of ``KL(p(.|x) || p(.|x + d))`` from the review alone.
    """
    xp = classifier.xp
    layout = BatchLayout([len(ids)], xp)
    if perturbation.recipe.virtual:
        with chainer.using_config("train", False):
            x = classifier.embed_reviews([ids]).array
            _, virtual_gradient = virtual_gradient_function(
                lambda inputs: classifier.logits_from_inputs(inputs, [len(ids)]), x, layout)
            return perturbation(Batch(None, xp.asarray(ids), layout, embeddings=classifier.embed.W.array,
                                      neighbors=neighbors, virtual_gradient=virtual_gradient))

    def input_gradient(r):   # SPGD with M > 1: the gradient at x + r (padded: one review)
        return review_gradient(classifier, ids, label, r[0])[None]

    return perturbation(Batch(review_gradient(classifier, ids, label), xp.asarray(ids), layout,
                              labels=xp.asarray([label], dtype=np.int32), embeddings=classifier.embed.W.array,
                              neighbors=neighbors, input_gradient=input_gradient))


def predict(classifier, ids, perturbation=None):
    """Predicted class of one review (optionally of ``x + d``), dropout off."""
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        x = classifier.embed_reviews([classifier.xp.asarray(ids)])
        if perturbation is not None:
            x = x + perturbation
        return int(classifier.logits_from_embeddings(x, [len(ids)]).array.argmax())



# ----------------------------------------------------------------------------- LM perplexity

def review_nll(lm, ids, perturbation=None):
    """Per-token negative log-likelihoods (L,) of a review under the LM, state reset.

    Input ``<eos> w_1 .. w_{L-1}``, targets ``w_1 .. w_L`` (the last is ``<eos>``).
    With ``perturbation`` (L, D_lm) the LM reads ``E[input] + d`` instead of
    ``E[input]`` (``d`` shifted to the input position of each word).
    """
    xp = lm.xp
    ids = xp.asarray(ids, dtype=np.int32)
    inputs = xp.concatenate([xp.asarray([EOS_ID], dtype=np.int32), ids[:-1]])
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        e = lm.embed(inputs)
        if perturbation is not None:
            shifted = xp.concatenate([xp.zeros((1, e.shape[1]), e.dtype), perturbation[:-1]])
            e = e + shifted
        _, _, ys = lstm_sequences(lm.rnn, None, None, [e])
        return lm.output.nll(ys[0], ids).array


def perplexity(nll_arrays):
    """Per-word perplexity ``exp(sum NLL / tokens)`` over several reviews, and the mean of per-review ones."""
    total = sum(float(a.sum()) for a in nll_arrays)
    count = sum(int(a.size) for a in nll_arrays)
    per_review = [float(np.exp(float(a.mean()))) for a in nll_arrays]
    return float(np.exp(total / count)), float(np.mean(per_review))



# ----------------------------------------------------------------------------- the table

def sample_indices(n_reviews, sample, seed):
    rng = np.random.RandomState(seed)
    return np.sort(rng.permutation(n_reviews)[:sample])



def method_records(method, model, config, lm, reviews, lm_term=None):
    """Per-review records for one adversarially trained classifier (its run's ``config``).

    ``method`` names the run (``advt``, ..., ``spgd_lm``); ``lm_term``: the
    run's :class:`~interpretable_adv.lm_term.LMTerm` when it was trained with one.

    Each record: the norms of ``d_t``, the ``nearest`` and ``direction``
    discretisations, the predictions on the original, continuous and
    discretised reviews, and the LM's per-token NLL of each variant.
    """
    xp = model.xp
    embeddings = model.embed.W.array
    neighbors = NeighborTable(config["n_neighbors"])   # rows computed once, for the words met
    neighbors.refresh(embeddings)
    perturbation = Perturbation.from_config(config, lm_term=lm_term)
    xp.random.seed(0)   # a method that draws (a random direction) draws the same: one model, one Table 1
    records = []
    for ids, label in reviews:
        ids_dev = xp.asarray(ids, dtype=np.int32)
        table = neighbors.lookup(ids_dev)
        d = perturb_review(model, ids_dev, label, perturbation, neighbors)
        x = embeddings[ids_dev]
        nearest = discretize_nearest(x + d, embeddings)
        direction = discretize_direction(d, ids_dev, table, embeddings)
        norms = xp.sqrt((d * d).sum(axis=1))
        relative = norms / xp.maximum(xp.sqrt((x * x).sum(axis=1)), 1e-12)
        record = {
            "method": method,
            "eps": float(perturbation.eps),
            "label": int(label),
            # Exact float32 values: a rounded norm would count a small step as none (issue 24).
            "norms": chainer.backends.cuda.to_cpu(norms).tolist(),
            "relative_norms": chainer.backends.cuda.to_cpu(relative).tolist(),
            "nearest": chainer.backends.cuda.to_cpu(nearest).tolist(),
            "direction": chainer.backends.cuda.to_cpu(direction).tolist(),
            "pred_original": predict(model, ids_dev),
            "pred_continuous": predict(model, ids_dev, d),
            "pred_nearest": predict(model, nearest),
            "pred_direction": predict(model, direction),
        }
        record["nll"] = {
            "direction": review_nll(lm, direction),
            "nearest": review_nll(lm, nearest),
            "continuous": review_nll(lm, ids_dev, d if d.shape[1] == lm.embed.W.shape[1] else None),
        }
        records.append(record)
    return records



def table1_figures(original_nll, records_by_method, reviews):
    """Table 1 figures per method and variant."""
    original_ppl, original_mean = perplexity(original_nll)
    table = {"original": {"perplexity": original_ppl, "mean_review_perplexity": original_mean}}
    for method, records in records_by_method.items():
        table[method] = {}
        for variant in VARIANTS:
            ppl, mean = perplexity([r["nll"][variant] for r in records])
            changed = (None if variant == "continuous" else
                       float(np.mean(np.concatenate([np.asarray(r[variant]) != np.asarray(ids)
                                                     for r, (ids, _) in zip(records, reviews)]))))
            flips = float(np.mean([r["pred_" + variant] != r["pred_original"] for r in records]))
            table[method][variant] = {"perplexity": ppl, "mean_review_perplexity": mean,
                                      "gap": ppl - original_ppl, "words_changed": changed, "flip_rate": flips}
        table[method]["mean_perturbation_norm"] = float(np.mean([np.sqrt(np.sum(np.square(r["norms"])))
                                                                 for r in records]))
        table[method]["perturbed_share"] = float(np.mean(np.concatenate([np.asarray(r["norms"]) > 0
                                                                         for r in records])))
        if all("relative_norms" in r for r in records):   # results written before issue 24 lack it
            table[method]["moved_share"] = float(np.mean(np.concatenate(
                [np.asarray(r["relative_norms"]) > MOVED_SHARE_THRESHOLD for r in records])))
    return table



def table1_markdown(table, comparable, title, caption):
    """Markdown Table 1, of one seed or over seeds: the one renderer of :func:`table1_figures`' layout.

    A figure is a number (one seed's ``iadv evaluate``) or a ``{"mean",
    "sd", "seeds"}`` statistic (``iadv summarize``), shown as ``mean +- sd``;
    ``comparable=False`` (not the paper's IMDB) omits the paper's column.
    """
    lines = [title, "", caption]
    if not comparable:
        lines.append("These runs are NOT on the paper's IMDB split (e.g. the synthetic corpus): the paper's "
                     "figures do not apply and are not shown.")
    lines += ["", "| attack | perplexity (%s) | gap | words changed | flip rate |%s" % (
        HEADLINE, " paper perplexity (gap) |" if comparable else ""),
        "|---|---|---|---|---|" + ("---|" if comparable else "")]
    lines.append("| None (original reviews) | %s | 0 | 0 | 0 |%s" % (
        _figure(table["original"]["perplexity"]), " %.2f (0) |" % PAPER_ORIGINAL_PERPLEXITY if comparable else ""))
    rows = [row.name for row in methods.perturbed_rows() if row.name in table]
    for name in rows:
        cell = table[name][HEADLINE]
        figure = methods.paper_table1(name)
        paper = (" %.2f (%+.2f) |" % (figure, figure - PAPER_ORIGINAL_PERPLEXITY) if figure is not None else " - |")
        lines.append("| %s | %s | %s | %s%% | %s%% |%s" % (
            methods.short_title(name), _figure(cell["perplexity"]), _figure(cell["gap"], signed=True),
            _figure(cell["words_changed"], 100, "%.1f"), _figure(cell["flip_rate"], 100, "%.1f"),
            paper if comparable else ""))
    lines += ["", "All variants:", "", "| attack | variant | perplexity | gap | mean per-review perplexity | "
              "words changed | flip rate |", "|---|---|---|---|---|---|---|"]
    for name in rows:
        for variant in VARIANTS:
            cell = table[name][variant]
            changed = "-" if cell["words_changed"] is None else _figure(cell["words_changed"], 100, "%.1f") + "%"
            lines.append("| %s | %s | %s | %s | %s | %s | %s%% |" % (
                methods.short_title(name), variant, _figure(cell["perplexity"]), _figure(cell["gap"], signed=True),
                _figure(cell.get("mean_review_perplexity")), changed, _figure(cell["flip_rate"], 100, "%.1f")))
    shares = [name for name in rows if "moved_share" in table[name]]
    if shares:
        lines += ["", "Perturbed tokens:", "", "| attack | perturbed (d_t != 0) | moved (step > %g%% of the word's norm) |"
                  % (100 * MOVED_SHARE_THRESHOLD), "|---|---|---|"]
        lines += ["| %s | %s%% | %s%% |" % (methods.short_title(name),
                                           _figure(table[name].get("perturbed_share"), 100, "%.1f"),
                                           _figure(table[name]["moved_share"], 100, "%.1f")) for name in shares]
    paper_rows = [row.name for row in methods.perturbed_rows(("paper",)) if row.name in table]
    if paper_rows:
        smallest = min(paper_rows, key=lambda name: _central(table[name][HEADLINE]["gap"]))
        lines += ["", "Smallest%s `%s` gap among the paper's methods: %s (the paper's claim: SPGD)."
                  % (" mean" if isinstance(table[smallest][HEADLINE]["gap"], dict) else "", HEADLINE,
                     methods.short_title(smallest))]
    lines += ["", "Definitions:", ""] + ["- **%s**: %s" % item for item in DEFINITIONS.items()]
    return "\n".join(lines) + "\n"


def _central(figure):
    """A figure's value: the number itself, or a statistic's mean."""
    return figure["mean"] if isinstance(figure, dict) else figure


def _figure(figure, scale=1.0, fmt="%.2f", signed=False):
    """A number as ``fmt`` (times ``scale``), a statistic as ``mean +- sd``, a missing figure as ``-``."""
    if figure is None:
        return "-"
    head = ("%+" + fmt[1:]) if signed else fmt
    if isinstance(figure, dict):
        return (head + " +- " + fmt) % (scale * figure["mean"], scale * figure["sd"])
    return head % (scale * figure)
