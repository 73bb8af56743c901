"""What the trainers measure: classifier accuracy over a split, LM perplexity over a token stream.

Both run with dropout off and without a graph, and count examples or tokens
(never a mean of batch means), so two measurements of one model agree exactly.
"""

import math

import chainer
import chainer.functions as F
import numpy as np

from interpretable_adv.iterators import BucketIterator, StreamIterator, review_converter


def classifier_metrics(model_loss, dataset, batch_size, device):
    """Accuracy, loss and predicted-class shares of ``model_loss`` on ``dataset``.

    Under ``chainer.using_config('train', False)`` (dropout off, so two calls
    give identical results) and without a graph. Every figure is over
    examples, not batches: accuracy = correct predictions / examples, loss =
    summed cross-entropy / examples, so a short last batch weighs what it
    holds. ``majority_share`` is the share of the most frequent predicted
    class (1.0 for a model that predicts one class for every review).
    ``predictions`` holds each example's predicted class, in ``dataset``'s order
    (the per-review outcome a paired test such as McNemar's needs).
    """
    predictor = model_loss.predictor
    iterator = BucketIterator(dataset, batch_size, repeat=False, shuffle=False)
    correct, total_loss, n = 0, 0.0, 0
    counts, predictions = None, []
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for batch in iterator:
            xs, t = review_converter(batch, device)
            logits = predictor(xs)
            total_loss += float(F.softmax_cross_entropy(logits, t, reduce="no").array.sum())
            predicted = chainer.backends.cuda.to_cpu(logits.array.argmax(axis=1))
            labels = chainer.backends.cuda.to_cpu(t)
            correct += int((predicted == labels).sum())
            predictions.append(predicted)
            batch_counts = np.bincount(predicted, minlength=logits.shape[1])
            counts = batch_counts if counts is None else counts + batch_counts
            n += len(labels)
    if n == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    return {"accuracy": correct / n, "correct": correct, "loss": total_loss / n, "examples": n,
            "majority_share": float(counts.max()) / n, "predicted_counts": counts.tolist(),
            "predictions": np.concatenate(predictions).astype(np.int8)}


def stream_perplexity(model, tokens, batch_size, bptt_len, device, labels=None):
    """exp(mean NLL per token) over ``tokens`` read as ``batch_size`` streams, state carried.

    Dropout off, no graph. ``labels``: one class per token, for a
    class-conditional LM. Returns (perplexity, mean NLL, number of tokens).
    """
    iterator = StreamIterator(tokens, batch_size, bptt_len, repeat=False, labels=labels)
    total, count, state = 0.0, 0, None
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for batch in iterator:
            x, t = batch[:2]
            y = device.send(batch[2]) if len(batch) > 2 else None
            nll, state = model.token_nll(device.send(x), device.send(t), state, y)
            total += float(F.sum(nll).array)
            count += t.size
    mean = total / count
    return math.exp(mean), mean, count
