"""Accuracy is measured with dropout off and counted over examples (issue: biased Table 3 figures)."""

import chainer
import numpy as np

from interpretable_adv.nets import Classifier, ClassifierLoss
from interpretable_adv.training.metrics import classifier_metrics as evaluate


class ListSplit:
    """The minimal split interface ReviewDataset needs: ``lengths`` and ``split[i] -> (ids, label)``."""

    def __init__(self, reviews):
        self.reviews = reviews
        self.lengths = np.array([len(ids) for ids, _ in reviews])

    def __len__(self):
        return len(self.reviews)

    def __getitem__(self, i):
        return self.reviews[i]


def random_reviews(n, n_vocab, seed):
    rng = np.random.RandomState(seed)
    reviews = []
    for _ in range(n):
        ids = rng.randint(2, n_vocab, size=rng.randint(3, 12)).astype(np.int32)
        reviews.append((np.append(ids, 0).astype(np.int32), int(rng.randint(2))))
    return reviews


def dataset_of(reviews):
    from interpretable_adv.iterators import ReviewDataset
    return ReviewDataset(ListSplit(reviews))


def hand_written_accuracy(model, reviews):
    """One review at a time, dropout off: the definition of accuracy, independent of batching."""
    correct = 0
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for ids, label in reviews:
            correct += int(model([ids]).array.argmax() == label)
    return correct / len(reviews)


def test_evaluation_is_deterministic_and_equals_the_dropout_off_definition():
    np.random.seed(0)
    model = Classifier(50, embed_dim=8, hidden_dim=12, fc_dim=6, dropout=0.5)
    reviews = random_reviews(66, 50, seed=1)
    first = evaluate(ClassifierLoss(model), dataset_of(reviews), 64, chainer.get_device("@numpy"))
    second = evaluate(ClassifierLoss(model), dataset_of(reviews), 64, chainer.get_device("@numpy"))
    assert np.array_equal(first.pop("predictions"), second.pop("predictions")) and first == second
    assert first["accuracy"] == hand_written_accuracy(model, reviews)
    assert first["examples"] == 66
    # Under dropout the same model's predictions vary: the fixed figure is not an accident.
    with chainer.using_config("train", True):
        noisy = [model([ids for ids, _ in reviews]).array.argmax(axis=1) for _ in range(5)]
    assert any((a != noisy[0]).any() for a in noisy[1:])


class ConstantPredictor(chainer.Chain):
    """Predicts class ``c`` for every review (a degenerate, one-class model)."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, xs):
        logits = np.zeros((len(xs), 2), dtype=np.float32)
        logits[:, self.c] = 1.0
        return chainer.Variable(logits)


def test_accuracy_counts_examples_not_batch_means():
    # 66 reviews evaluated in batches of 64 + 2: the last two are both class 0.
    reviews = [(np.array([2, 0], np.int32), 1 if i < 32 else 0) for i in range(64)]
    reviews += [(np.array([3, 0], np.int32), 0), (np.array([4, 0], np.int32), 0)]
    result = evaluate(ClassifierLoss(ConstantPredictor(0)), dataset_of(reviews), 64,
                      chainer.get_device("@numpy"))
    assert result["accuracy"] == 34 / 66          # a mean of batch means would say (32/64 + 2/2) / 2 = 0.75
    assert result["majority_share"] == 1.0
    assert result["predicted_counts"] == [66, 0]
    expected_loss = -np.log(np.exp(0.0) / (np.exp(1.0) + np.exp(0.0)))    # wrong-class examples
    right_loss = -np.log(np.exp(1.0) / (np.exp(1.0) + np.exp(0.0)))
    assert np.isclose(result["loss"], (32 * expected_loss + 34 * right_loss) / 66)


def test_dev_accuracy_in_the_training_log_counts_examples(tmp_path):
    """The trainer's dev figure is the same count as evaluate(), not Chainer's mean of batch means."""
    from data_prep.pipeline import prepare_imdb
    from data_prep.synthetic_corpus import write_synthetic_corpus
    from interpretable_adv.data import PreparedData
    from interpretable_adv.iterators import ReviewDataset
    from interpretable_adv.presets import resolve
    from interpretable_adv.checkpoints import load_run
    from interpretable_adv.training.classifier import train_classifier

    write_synthetic_corpus(str(tmp_path / "raw"), n_train=60, n_test=40, n_unsup=20, seed=3)
    prepare_imdb([str(tmp_path / "raw")], str(tmp_path / "data"), workers=1, progress=False, log=lambda m: None)
    config = resolve("tiny", "train", dict(data=str(tmp_path / "data"), out=str(tmp_path / "run"), epoch=1,
                                          progress=False, eval_batchsize=7))
    results = train_classifier(config)
    data = PreparedData(str(tmp_path / "data"))
    model, _ = load_run(str(tmp_path / "run"), data, chainer.get_device("@numpy"))
    dev = ReviewDataset(data.split("dev"))
    assert len(dev) % 7 != 0                        # a short last batch exists
    assert results["dev_accuracy_best"] == hand_written_accuracy(model, [dev[i] for i in range(len(dev))])
    test = ReviewDataset(data.split("test"))
    assert results["test_accuracy"] == hand_written_accuracy(model, [test[i] for i in range(len(test))])
    assert 0.5 <= results["test_majority_share"] <= 1.0
