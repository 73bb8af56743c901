"""The VAT family (VAT, iVAT, SPGD-VAT) against independent computations.

The KL is >= 0 and 0 at d = 0; its input gradient matches finite
differences; one power iteration finds the KL's direction of largest
curvature (for two classes the per-review Hessian has rank one, so the top
eigenvector of a finite-difference Hessian is the answer); lambda 0 leaves the
Pretrained update bit for bit and eps 0 adds nothing but rounding; the update
equals CE + lambda KL(p_hat || p(x + r)) built by hand; iVAT's step lies in the
span of each word's neighbour directions; SPGD-VAT keeps floor((1 - sigma) L)
tokens, each along one neighbour direction; the unlabeled pool and the
neighbour table cover what they must; a killed run resumes bit-identically.
"""

import chainer
import chainer.functions as F
import numpy as np
import pytest

from interpretable_adv import adversarial as adv
from interpretable_adv.methods import Batch
from interpretable_adv.neighbors import NeighborTable
from interpretable_adv.nets import Classifier, ClassifierLoss
from interpretable_adv.perturbation import BatchLayout, Perturbation, kl_divergence, virtual_gradient_function
from interpretable_adv.presets import resolve
from interpretable_adv.training.classifier import build_classifier_trainer, train_classifier
from interpretable_adv.training.updaters import ClassifierUpdater, VirtualAdversarialUpdater
from tests.helpers import straight_then_killed_and_resumed

CPU = chainer.get_device("@numpy")


def _model(seed=0, dropout=0.0, vocab=30, embed_dim=5):
    np.random.seed(seed)
    with chainer.using_config("dtype", np.float64):
        return Classifier(vocab, embed_dim=embed_dim, hidden_dim=6, fc_dim=4, dropout=dropout)


def _reviews(seed=1, vocab=30, lengths=(6, 4, 9)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, size=n).astype(np.int32) for n in lengths]


def _virtual(model, xs):
    lengths = [len(x) for x in xs]
    layout = BatchLayout(lengths, np)
    x = model.embed_reviews(xs).array

    def logits_of(inputs):
        return model.logits_from_inputs(inputs, lengths)

    log_p_hat, gradient = virtual_gradient_function(logits_of, x, layout)
    return x, layout, logits_of, log_p_hat, gradient


def _kl(logits_of, log_p_hat, x):
    """KL(p_hat || p(.|x)) per the definition, summed over classes, mean over reviews (plain NumPy)."""
    logits = logits_of(x).array
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float((np.exp(log_p_hat) * (log_p_hat - log_p)).sum(axis=1).mean())


def test_kl_is_nonnegative_and_zero_at_d_0():
    model = _model()
    x, layout, logits_of, log_p_hat, _ = _virtual(model, _reviews())
    assert float(kl_divergence(log_p_hat, logits_of(x)).array) == 0.0
    rng = np.random.default_rng(0)
    for scale in (1e-3, 0.1, 1.0, 10.0):
        d = scale * rng.standard_normal(x.shape)
        value = float(kl_divergence(log_p_hat, logits_of(x + d)).array)
        assert value >= 0.0 and value == pytest.approx(_kl(logits_of, log_p_hat, x + d), rel=1e-6, abs=1e-14)


def test_virtual_gradient_matches_finite_differences_of_the_kl():
    model = _model()
    x, layout, logits_of, log_p_hat, gradient = _virtual(model, _reviews())
    rng = np.random.default_rng(2)
    d = 0.3 * rng.standard_normal(x.shape)
    g = layout.flat(gradient(layout.pad(d)))
    h = 1e-6
    for _ in range(5):
        v = rng.standard_normal(x.shape)
        numeric = (_kl(logits_of, log_p_hat, x + d + h * v) - _kl(logits_of, log_p_hat, x + d - h * v)) / (2 * h)
        assert numeric == pytest.approx(float((g * v).sum()), rel=1e-5, abs=1e-12)


def test_one_power_iteration_finds_the_top_eigenvector_of_the_kls_hessian():
    """Two classes: the KL's Hessian at d = 0 has rank one per review, so one iteration is exact."""
    model = _model(seed=3)
    xs = _reviews(lengths=(4,))
    x, layout, logits_of, log_p_hat, gradient = _virtual(model, xs)
    n = x.size
    h = 1e-5
    hessian = np.empty((n, n))
    for i in range(n):   # central differences of the (independently checked) gradient
        step = np.zeros(n)
        step[i] = h
        plus = layout.flat(gradient(layout.pad((step).reshape(x.shape))))
        minus = layout.flat(gradient(layout.pad((-step).reshape(x.shape))))
        hessian[i] = (plus - minus).ravel() / (2 * h)
    values, vectors = np.linalg.eigh((hessian + hessian.T) / 2)
    top = vectors[:, np.argmax(np.abs(values))]
    assert abs(values).max() > 1e3 * np.sort(abs(values))[-2]          # rank one, as two classes give
    np.random.seed(7)
    d = Perturbation("vat", 1.0, vat_xi=1e-4, power_iterations=1, perturbation_norm="exact")(
        Batch(None, np.concatenate(xs), layout, embeddings=model.embed.W.array, virtual_gradient=gradient))
    cosine = abs(float(d.ravel() @ top)) / np.linalg.norm(d)
    assert cosine > 0.9999
    assert np.linalg.norm(d) == pytest.approx(1.0)


class _Fixed(chainer.dataset.Iterator):
    epoch, is_new_epoch, epoch_detail, previous_epoch_detail = 0, False, 0.0, None

    def __init__(self, reviews, labels):
        self.batch = list(zip(reviews, labels))

    def __next__(self):
        return list(self.batch)


def _grads_after(updater, loss_model):
    batch = updater.get_iterator("main").next()
    xs, t = updater.converter(batch, CPU)
    observation = {}
    reporter = chainer.Reporter()
    reporter.add_observer("main", loss_model)
    with reporter.scope(observation):
        updater.compute_gradients(loss_model, xs, t)
    return {name: p.grad.copy() for name, p in loss_model.namedparams()}, observation


def _vat_updater(model, method="vat", eps=1.0, adv_weight=1.0, dropout_masks="fresh", reviews="both", **settings):
    loss_model = ClassifierLoss(model)
    optimizer = chainer.optimizers.SGD(lr=0.0)
    optimizer.setup(loss_model)
    labeled = _Fixed(_reviews(), [1, 0, 1])
    unlabeled = _Fixed(_reviews(seed=5, lengths=(5, 7)), [-1, -1])
    neighbors = None
    if method != "vat":
        neighbors = NeighborTable(2)
        neighbors.refresh(model.embed.W.array)
    perturbation = Perturbation(method, eps, perturbation_norm="exact", **settings)
    updater = VirtualAdversarialUpdater({"main": labeled, "unlabeled": unlabeled}, optimizer, CPU, perturbation,
                                        adv_weight=adv_weight, neighbors=neighbors, dropout_masks=dropout_masks,
                                        reviews=reviews)
    return updater, loss_model


def _pretrained_grads(model, seed):
    loss_model = ClassifierLoss(model)
    optimizer = chainer.optimizers.SGD(lr=0.0)
    optimizer.setup(loss_model)
    np.random.seed(seed)   # the dropout masks' draws
    return _grads_after(ClassifierUpdater(_Fixed(_reviews(), [1, 0, 1]), optimizer, CPU), loss_model)[0]


def test_lambda_0_leaves_the_pretrained_update_bit_for_bit():
    reference = _pretrained_grads(_model(dropout=0.5), 11)
    updater, loss_model = _vat_updater(_model(dropout=0.5), adv_weight=0.0)
    np.random.seed(11)
    ours, observation = _grads_after(updater, loss_model)
    assert float(observation["main/loss_adv"].array) > 0   # the term was computed, with weight 0
    for name in reference:
        np.testing.assert_array_equal(ours[name], reference[name], err_msg=name)


def test_eps_0_with_shared_masks_adds_only_rounding():
    reference = _pretrained_grads(_model(dropout=0.5), 11)
    updater, loss_model = _vat_updater(_model(dropout=0.5), eps=0.0, dropout_masks="shared")
    np.random.seed(11)
    ours, observation = _grads_after(updater, loss_model)
    assert abs(float(observation["main/loss_adv"].array)) < 1e-15
    for name in reference:
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("reviews", ["both", "unlabeled"])
def test_the_vat_update_is_ce_plus_lambda_kl_at_the_virtual_adversarial_point(reviews):
    """Built by hand: u ~ N(0, I), d = xi u_b / ||u_b||, g = grad_d KL (Chainer on a second model), r = eps g_b /
    ||g_b||, then grad of CE(labeled) + lambda KL(p_hat || p(x + r)) over the chosen reviews."""
    xi, eps, lam = 0.05, 1.5, 0.7
    model = _model()
    updater, loss_model = _vat_updater(model, eps=eps, adv_weight=lam, reviews=reviews, vat_xi=xi)
    np.random.seed(4)
    ours, _ = _grads_after(updater, loss_model)

    reference = _model()
    labeled, unlabeled = _reviews(), _reviews(seed=5, lengths=(5, 7))
    virtual = labeled + unlabeled if reviews == "both" else unlabeled
    lengths = np.array([len(x) for x in virtual])
    review_of = np.repeat(np.arange(len(virtual)), lengths)
    np.random.seed(4)
    u = np.random.standard_normal((lengths.sum(), 5))
    per_review = np.sqrt(np.bincount(review_of, weights=(u * u).sum(axis=1)))
    d = xi * u / per_review[review_of][:, None]
    x = reference.embed_reviews(virtual).array
    with chainer.no_backprop_mode():
        p_hat = F.softmax(reference.logits_from_inputs(x, list(lengths))).array

    def kl(inputs):
        log_p = F.log_softmax(reference.logits_from_inputs(inputs, list(lengths)))
        return F.sum(p_hat * (np.log(p_hat) - log_p)) / len(virtual)

    probe = chainer.Variable(x + d)
    kl(probe).backward()
    g = probe.grad
    r = eps * g / np.sqrt(np.bincount(review_of, weights=(g * g).sum(axis=1)))[review_of][:, None]
    reference.cleargrads()
    ce = F.softmax_cross_entropy(reference(labeled), np.array([1, 0, 1], np.int32))
    (ce + lam * kl(reference.embed_reviews(virtual) + r)).backward()
    for name, param in reference.namedparams():
        np.testing.assert_allclose(ours["/predictor" + name], param.grad, rtol=1e-6, atol=1e-10, err_msg=name)


def _virtual_batch(k):
    """A model, its virtual-gradient batch over three reviews and a K-neighbour table."""
    model = _model()
    xs = _reviews()
    _, layout, _, _, gradient = _virtual(model, xs)
    words = np.concatenate(xs)
    table = NeighborTable(k)
    table.refresh(model.embed.W.array)
    return model, words, table, Batch(None, words, layout, embeddings=model.embed.W.array, neighbors=table,
                                      virtual_gradient=gradient)


def test_ivat_step_lies_in_the_span_of_each_words_neighbour_directions():
    model, words, table, batch = _virtual_batch(2)
    for start in ("random", "uniform"):
        np.random.seed(0)
        d = Perturbation("ivat", 1.0, ivat_start=start, power_iterations=2)(batch)
        directions = adv.neighbor_directions(model.embed.W.array, words, table.lookup(words))   # (N, K=2, D=5)
        for t in range(len(words)):
            coefficients, *_ = np.linalg.lstsq(directions[t].T, d[t], rcond=None)
            np.testing.assert_allclose(directions[t].T @ coefficients, d[t], atol=1e-9)
        assert np.abs(d).sum() > 0


def test_spgd_vat_keeps_floor_of_the_share_each_token_along_one_neighbour_direction():
    model, words, table, batch = _virtual_batch(3)
    np.random.seed(0)
    d = Perturbation("spgd_vat", 2.0, sigma=0.75, spgd_steps=2)(batch)
    kept = np.sqrt((d * d).sum(axis=1)) > 0
    assert [int(k.sum()) for k in np.split(kept, np.cumsum(batch.layout.lengths)[:-1])] == [1, 1, 2]   # floor(0.25 L)
    directions = adv.neighbor_directions(model.embed.W.array, words, table.lookup(words))
    for t in np.flatnonzero(kept):
        cosines = directions[t] @ d[t] / np.linalg.norm(d[t])
        assert np.isclose(np.abs(cosines).max(), 1.0, atol=1e-9)


def _tiny(data, out, **overrides):
    return resolve("tiny", "train", dict(data=data, out=str(out), progress=False, **overrides))


def test_the_unlabeled_pool_is_the_unlabeled_and_training_reviews_never_dev(synthetic_prepared, tmp_path):
    from interpretable_adv.data import PreparedData

    data = PreparedData(synthetic_prepared)
    config = _tiny(synthetic_prepared, tmp_path / "run", method="vat", max_length=30)
    _, parts = build_classifier_trainer(config, data, CPU)
    pool, unlabeled, train = parts.unlabeled, data.split("unlabeled"), data.split("train")
    assert len(pool) == len(unlabeled) + len(parts.train)
    np.testing.assert_array_equal(pool[0][0], unlabeled[0][0][-30:])
    np.testing.assert_array_equal(pool[len(unlabeled)][0], train[0][0][-30:])
    dev = {tuple(data.split("dev")[i][0][-30:]) for i in range(len(data.split("dev")))}
    assert not any(tuple(pool[i][0]) in dev and i >= len(unlabeled) + len(parts.train) for i in range(len(pool)))
    assert int(pool.lengths.max()) <= 30


def test_the_neighbour_table_covers_words_only_unlabeled_reviews_contain(synthetic_prepared):
    """Upstream's table has a row per training word; ours has one per vocabulary word, computed from its own
    embedding (brute force here), so an unlabeled-only word never reads another word's neighbours."""
    from interpretable_adv.data import PreparedData

    data = PreparedData(synthetic_prepared)
    unlabeled = {int(w) for i in range(len(data.split("unlabeled"))) for w in data.split("unlabeled")[i][0]}
    labeled = {int(w) for i in range(len(data.split("train"))) for w in data.split("train")[i][0]}
    only = sorted(unlabeled - labeled)
    assert only, "the synthetic corpus has words that only unlabeled reviews contain"
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((len(data.vocab), 8)).astype(np.float32)
    table = NeighborTable(5)
    table.refresh(embeddings)
    rows = table.lookup(np.array(only))
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    for w in only[:20]:
        cosines = unit @ unit[w]
        cosines[w] = -np.inf
        assert set(rows[w]) == set(np.argsort(-cosines)[:5])


def test_killed_spgd_vat_run_resumes_to_identical_weights(synthetic_prepared, tmp_path):
    """The unlabeled iterator's order and position, NumPy's stream (probes, dropout) and the neighbour table
    are in the snapshots."""
    straight, resumed = straight_then_killed_and_resumed(
        train_classifier, lambda out: _tiny(synthetic_prepared, out, method="spgd_vat", epoch=2, snapshot_interval=4,
                                            neighbor_interval=3, unlabeled_batchsize=24), 7, tmp_path,
        same_files=("best_model.npz",))
    assert resumed["dev_curve"] == straight["dev_curve"]
    assert straight["adversarial"]["mean_loss_adv"] > 0


def test_the_registry_names_the_virtual_family_for_the_scripts(capsys):
    from tests.helpers import invoke

    code, out, _ = invoke(["methods", "--names", "--virtual"], capsys)
    assert code == 0 and out.split() == ["vat", "ivat", "spgd_vat"]
    code, out, _ = invoke(["methods", "--rows", "virtual"], capsys)
    assert code == 0 and sorted(out.split()) == ["ivat", "spgd_vat", "vat"]


def test_a_sweep_of_the_virtual_family_is_read_and_chosen_like_the_supervised_one(tmp_path):
    import json

    from interpretable_adv.reports.sweep import choose_scale, read_sweep

    for name, dev in (("vat-x0.03", 0.80), ("vat-x0.1", 0.82), ("spgd_vat-x0.03", 0.81), ("spgd_vat-x0.1", 0.83),
                      ("pretrained", 0.79)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(
            {"dev_accuracy_best": dev, "test_accuracy": dev, "test_majority_share": 0.5, "adversarial": {}}))
    grid, controls = read_sweep(str(tmp_path))
    assert set(grid) == {"vat", "spgd_vat"} and set(controls) == {"pretrained"}
    chosen, mean_dev, _ = choose_scale(grid)
    assert chosen == 0.1 and mean_dev[0.1] == pytest.approx(82.5)
