"""Which differences between two rows are real: paired tests over seeds and over test reviews, Holm-corrected.

Two rows trained with the same settings and seeds are compared twice:

* **over seeds** (the decision): the per-seed difference of accuracies
  ``d_s = acc_A(s) - acc_B(s)``, paired by seed because a seed fixes the
  shared parts (the LM, the data order, the initialisation of the head); its
  mean, sample sd and the Student-t 95% interval ``mean +- t_{0.975, n-1} sd /
  sqrt(n)``, and the two-sided one-sample t-test of ``mean = 0``. This asks
  whether *the method* helps, training randomness included, so it is what
  decides ("significant" or not at 0.05 after Holm's correction over the
  family of comparisons).
* **over reviews, per seed**: the exact McNemar test on the test reviews both
  models classified: with ``b`` reviews only A gets right and ``c`` only B
  gets right, under H0 each discordant review is A's with probability 1/2, so
  ``p = P(|Binomial(b + c, 1/2) - (b+c)/2| >= |b - (b+c)/2|)`` (scipy's
  ``binomtest``). Exact rather than the chi-square approximation because
  the discordant counts of two similar models can be small; McNemar rather
  than a bootstrap because it is exact for paired binary outcomes and needs
  no resampling seed. It asks whether *these two trained models* differ, so a
  seed can be significant while the method is not.

With ``n`` seeds the t-test needs a large effect to decide;
:func:`seeds_for_power` says how many seeds a difference of the measured
size would need to be found at 80% power (noncentral t, unadjusted 0.05).
"""

import math

import numpy as np

ALPHA = 0.05
LEVEL = 0.95
POWER = 0.8


def mean_sd(values):
    """(mean, sample sd) of the non-None values; (None, None) when there are none (sd 0 for one value)."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def mcnemar(correct_a, correct_b):
    """Exact McNemar test of two classifiers on the same reviews (boolean arrays): ``(b, c, p)``.

    ``b``: reviews only A classifies correctly, ``c``: only B; ``p`` two-sided
    (1.0 when no review is discordant).
    """
    from scipy.stats import binomtest

    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError("McNemar needs the same reviews: %s vs %s outcomes" % (correct_a.shape, correct_b.shape))
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return b, c, p


def seed_interval(differences, level=LEVEL):
    """Mean, sample sd, Student-t interval and two-sided t-test p of paired per-seed differences.

    Returns a dict with ``n``, ``mean``, ``sd``, ``low``, ``high``, ``p``;
    with one seed, or with no spread over the seeds (equal differences, which
    a few seeds of accuracies on a small sample can give), the interval and p
    are None: the t statistic is undefined, and a zero sd is no evidence of
    certainty.
    """
    from scipy.stats import t as student_t

    d = np.asarray(differences, dtype=float)
    n = len(d)
    mean = float(d.mean())
    if n < 2:
        return {"n": n, "mean": mean, "sd": None, "low": None, "high": None, "p": None}
    sd = float(d.std(ddof=1))
    if sd == 0:
        return {"n": n, "mean": mean, "sd": 0.0, "low": None, "high": None, "p": None}
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    statistic = mean / (sd / math.sqrt(n))
    p = float(2 * student_t.sf(abs(statistic), n - 1))
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half, "p": p}


def holm(pvalues, alpha=ALPHA):
    """Holm's step-down correction: ``(adjusted p-values, rejected)`` in the order given; None entries pass through.

    Sorted ascending, the i-th smallest of m p-values is adjusted to
    ``max_{j <= i} min(1, (m - j) p_(j))`` (0-based j); H0 is rejected where
    the adjusted p is <= ``alpha``. This controls the family-wise error rate
    under any dependence between the tests.
    """
    present = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    m = len(present)
    adjusted = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted, [None if a is None else a <= alpha for a in adjusted]


def t_test_power(effect, n, alpha=ALPHA):
    """Power of the two-sided one-sample t-test with ``n`` observations at standardised effect ``mean / sd``."""
    from scipy.stats import nct
    from scipy.stats import t as student_t

    df = n - 1
    critical = student_t.ppf(1 - alpha / 2, df)
    noncentrality = effect * math.sqrt(n)
    return float(nct.sf(critical, df, noncentrality) + nct.cdf(-critical, df, noncentrality))


def seeds_for_power(mean, sd, power=POWER, alpha=ALPHA, limit=10000):
    """The fewest seeds (>= 2) at which a paired difference of ``mean`` with seed sd ``sd`` is found at ``power``.

    None when ``sd`` is unknown or zero, the difference is zero, or more than ``limit`` seeds would be needed.
    """
    if not sd or mean == 0:
        return None
    effect = abs(mean) / sd
    n = 2
    while t_test_power(effect, n, alpha) < power:
        n += 1
        if n > limit:
            return None
    return n


def compare(accuracy_a, accuracy_b, correct_a=None, correct_b=None):
    """One comparison A vs B over the seeds both have: the seed interval and each seed's McNemar test.

    ``accuracy_*``: seed -> accuracy (percent); ``correct_*``: seed -> boolean
    outcome per review (optional; a seed without both has no McNemar entry).
    """
    seeds = sorted(set(accuracy_a) & set(accuracy_b))
    differences = [accuracy_a[s] - accuracy_b[s] for s in seeds]
    result = seed_interval(differences) if seeds else {"n": 0, "mean": None, "sd": None, "low": None,
                                                       "high": None, "p": None}
    result["seeds"] = {str(s): d for s, d in zip(seeds, differences)}
    result["seeds_for_power"] = seeds_for_power(result["mean"], result["sd"]) if len(seeds) > 1 else None
    result["mcnemar"] = {}
    for s in seeds:
        if correct_a and correct_b and s in correct_a and s in correct_b:
            b, c, p = mcnemar(correct_a[s], correct_b[s])
            result["mcnemar"][str(s)] = {"only_a": b, "only_b": c, "p": p}
    return result


def decide(comparisons, alpha=ALPHA):
    """Holm over the family: each comparison's seed-test p and, per seed, its McNemar p are adjusted
    (the seed tests as one family, each seed's McNemar tests as another); adds ``p_holm``/``significant``."""
    adjusted, rejected = holm([c["p"] for c in comparisons], alpha)
    for c, p, r in zip(comparisons, adjusted, rejected):
        c["p_holm"], c["significant"] = p, r
    seeds = sorted({s for c in comparisons for s in c["mcnemar"]}, key=int)
    for s in seeds:
        family = [c for c in comparisons if s in c["mcnemar"]]
        adjusted, rejected = holm([c["mcnemar"][s]["p"] for c in family], alpha)
        for c, p, r in zip(family, adjusted, rejected):
            c["mcnemar"][s].update(p_holm=p, significant=r)
    return comparisons


def comparison_pairs(row_names):
    """The family of comparisons among the rows ``row_names`` (Table 3's order): ``(A, B)`` pairs, A tested against B.

    Rows that share every setting but the one a comparison asks about:
    Pretrained vs Baseline (the LM initialisation); every other row trained
    from the LM vs Pretrained (does the method help?); and every pair within
    one family of perturbing methods, the supervised ones (AdvT, iAdvT, SPGD,
    the random-perturbation control, the LM-term rows) and the virtual ones
    (VAT, iVAT, SPGD-VAT), later row against earlier (is SPGD as good as AdvT?
    does the adversarial direction beat a random one?).
    """
    from interpretable_adv import methods

    present = [methods.row(name) for name in row_names]
    plain = [r for r in present if not methods.get(r.method).adversarial and not r.lm_term]
    reference = next((r.name for r in plain if r.pretrained), None)      # Pretrained
    scratch = next((r.name for r in plain if not r.pretrained), None)    # Baseline
    pairs = []
    if reference and scratch:
        pairs.append((reference, scratch))
    if reference:
        pairs += [(r.name, reference) for r in present if r.pretrained and r.name != reference]
    for virtual in (False, True):
        family = [r.name for r in present if methods.get(r.method).adversarial and methods.get(r.method).virtual == virtual]
        pairs += [(a, b) for i, b in enumerate(family) for a in family[i + 1:]]
    return pairs


def significance_markdown(comparisons, titles, what="test accuracy"):
    """The compact table: ``A vs B | +0.50 [-0.20, 1.20] | p | Holm p | decision | McNemar per seed``."""
    lines = ["| comparison | mean difference [95%% interval over seeds] (%s, points) | per seed | t-test p | "
             "Holm p | decision at %.2f | McNemar per seed: only A / only B right, p (Holm) | seeds for 80%% power |"
             % (what, ALPHA), "|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        name = "%s vs %s" % (titles[c["a"]], titles[c["b"]])
        if c["mean"] is None:
            lines.append("| %s | no common seed | | | | | | |" % name)
            continue
        interval = "%+.2f" % c["mean"] if c["low"] is None else "%+.2f [%+.2f, %+.2f]" % (c["mean"], c["low"], c["high"])
        per_seed = ", ".join("%s: %+.2f" % (s, d) for s, d in c["seeds"].items())
        decision = "-" if c["significant"] is None else ("significant" if c["significant"] else "not significant")
        mcnemar = "; ".join("%s: %d / %d, p %s (%s)%s" % (s, m["only_a"], m["only_b"], _p(m["p"]), _p(m["p_holm"]),
                                                          " *" if m["significant"] else "")
                            for s, m in c["mcnemar"].items()) or "-"
        power = "-" if c["seeds_for_power"] is None else str(c["seeds_for_power"])
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (name, interval, per_seed, _p(c["p"]),
                                                                  _p(c["p_holm"]), decision, mcnemar, power))
    return "\n".join(lines) + "\n"


def _p(p):
    if p is None:
        return "-"
    if p == 0:
        return "<1e-300"   # below the smallest double: the binomial tail underflows
    return "%.3f" % p if p >= 0.001 else "%.0e" % p


SIGNIFICANCE_NOTE = (
    "Paired by seed: the difference A - B of each seed's %s, its mean with a Student-t 95%% interval over seeds, and "
    "the two-sided t-test of a zero mean decide (Holm's correction over the whole family, at %.2f). McNemar's exact "
    "test compares the two models of one seed on the same test reviews (Holm over the family within that seed; * = "
    "rejected): it says whether those two trained models differ, not whether the method does. 'seeds for 80%% power': "
    "how many seeds the t-test would need to find a difference of the measured mean and sd (unadjusted %.2f). "
    "'-' where the t-test is undefined: one seed, or the same difference at every seed (no spread to estimate)."
)


def significance(accuracies, outcomes=None, pairs=None, alpha=ALPHA):
    """Every comparison of the family, decided: a list of :func:`compare` results with ``a``, ``b``, Holm's p.

    ``accuracies``: row -> seed -> accuracy (percent); ``outcomes``: row ->
    seed -> boolean outcome per review (for McNemar); ``pairs``: default
    :func:`comparison_pairs` of the rows.
    """
    outcomes = outcomes or {}
    pairs = comparison_pairs(list(accuracies)) if pairs is None else pairs
    comparisons = []
    for a, b in pairs:
        result = compare(accuracies[a], accuracies[b], outcomes.get(a), outcomes.get(b))
        result.update(a=a, b=b)
        comparisons.append(result)
    return decide(comparisons, alpha)
