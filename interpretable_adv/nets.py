"""The two networks of the paper (Appendix B): an LSTM language model and an LSTM classifier.

Both share the same front end, ``embed`` = ``EmbedID(V, D)`` and ``rnn`` =
one-layer uni-directional ``NStepLSTM(D -> H)``, so that the classifier can be
initialised from the language model ("Pretrained" in Table 3). The attribute
names follow the upstream iAdvT code (``embed``, ``rnn``).

NStepLSTM gate layout (Chainer): ``w0..w3`` act on the input and ``w4..w7`` on
the hidden state for the input gate, forget gate, cell candidate and output
gate in that order, with biases ``b0..b7``; the forget gate's total bias is
``b1 + b5``.
"""

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np

from interpretable_adv.adaptive_softmax import AdaptiveSoftmax, FullSoftmax
from interpretable_adv.lstm import lstm_sequences

FORGET_GATE_INPUT_BIAS = "b1"
FORGET_GATE_HIDDEN_BIAS = "b5"


def set_forget_gate_bias(lstm, value):
    """Make the forget gate's total bias ``value`` in every layer of an NStepLSTM."""
    for layer in lstm:
        getattr(layer, FORGET_GATE_INPUT_BIAS).array[...] = value
        getattr(layer, FORGET_GATE_HIDDEN_BIAS).array[...] = 0


def split_by_lengths(flat, lengths):
    """Split a (sum(lengths), D) Variable into a list of (L_b, D) Variables."""
    boundaries = np.cumsum(lengths)[:-1].tolist()
    return F.split_axis(flat, boundaries, axis=0) if boundaries else [flat]


SOFTMAXES = ("adaptive", "full")   # the LM's output layer
READOUTS = ("eos", "last_word")    # the state the classifier's head reads
DROPOUT_MASKS = ("fresh", "shared")   # the adversarial pass's masks: drawn afresh (upstream) or replayed (DropoutMasks)
N_CLASSES = 2   # IMDB: negative (0), positive (1); the class-conditional LM has one label embedding per class


class LanguageModel(chainer.Chain):
    """``EmbedID(V, D)`` -> dropout -> ``NStepLSTM(H)`` -> dropout -> adaptive (or full) softmax.

    Appendix B: weights U(-0.1, 0.1), forget-gate bias 1.0. DESIGN section 4:
    adaptive softmax with cutoffs 2000 / 10000 and tail projections shrinking
    4x per cluster over the frequency-sorted vocabulary; ``softmax='full'``
    for the plain alternative.

    ``n_labels > 0`` makes it the class-conditional LM ``p_l(x | y)`` of the
    paper's equation 9: a label embedding ``c_y`` (``label_embed``, D values
    per class, initialised to zero) is added to the input at every step, so
    the step that predicts ``w_t`` reads ``E[w_{t-1}] + c_y``. Added at every
    step rather than put into the initial state, the condition cannot fade
    over a long review and needs no state reset inside the concatenated
    training streams (each step carries the label of the review of the word it
    predicts); zero-initialised, a conditional LM fine-tuned from a
    pretrained one starts as exactly that LM.
    """

    def __init__(self, n_vocab, embed_dim=256, hidden_dim=1024, dropout=0.5, output_dropout=None,
                 softmax="adaptive", cutoffs=(2000, 10000), div_value=4.0, init_scale=0.1,
                 forget_bias=1.0, n_labels=0):
        super().__init__()
        self.n_vocab = n_vocab
        self.n_labels = n_labels
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.output_dropout = dropout if output_dropout is None else output_dropout
        uniform = chainer.initializers.Uniform(init_scale)
        with self.init_scope():
            self.embed = L.EmbedID(n_vocab, embed_dim, initialW=uniform)
            self.rnn = L.NStepLSTM(1, embed_dim, hidden_dim, 0.0, initialW=uniform,
                                   initial_bias=uniform)
            if softmax == "adaptive":
                self.output = AdaptiveSoftmax(hidden_dim, n_vocab, cutoffs=cutoffs, div_value=div_value,
                                              initialW=uniform)
            elif softmax == "full":
                self.output = FullSoftmax(hidden_dim, n_vocab, initialW=uniform)
            else:
                raise ValueError("softmax must be 'adaptive' or 'full', got %r" % softmax)
            if n_labels:
                self.label_embed = L.EmbedID(n_labels, embed_dim, initialW=chainer.initializers.Zero())
        set_forget_gate_bias(self.rnn, forget_bias)

    @property
    def conditional(self):
        return self.n_labels > 0

    def condition(self, e, labels):
        """``e + c_y`` for a conditional LM (``labels`` shaped like ``e`` without its last axis), else ``e``.

        A conditional LM refuses ``labels=None``; an unconditional one ignores labels.
        """
        if not self.conditional:
            return e
        if labels is None:
            raise ValueError("a class-conditional LM needs the labels of its inputs")
        return e + self.label_embed(labels)

    @classmethod
    def from_config(cls, config, n_vocab):
        """The LM of a ``pretrain`` configuration (embedding, LSTM, adaptive or full softmax), class-conditional
        (one label embedding per class) when ``config['conditional']``."""
        return cls(n_vocab, embed_dim=config["embed_dim"], hidden_dim=config["hidden_dim"], dropout=config["dropout"],
                   softmax=config["softmax"], cutoffs=tuple(config["cutoffs"]), div_value=config["div_value"],
                   init_scale=config["init_scale"], forget_bias=config["forget_bias"],
                   n_labels=N_CLASSES if config.get("conditional") else 0)

    def hidden_states(self, x, state=None, labels=None):
        """Run the LSTM over a (B, T) block of ids; returns (h (B*T, H) in row-major order, state).

        ``state`` is ``(hx, cx)`` from the previous block or None (zeros);
        ``labels`` (B, T): the class of the review each step's target belongs to
        (conditional LM only).
        """
        hx, cx = state if state is not None else (None, None)
        e = F.dropout(self.condition(self.embed(x), labels), self.dropout)
        hy, cy, ys = lstm_sequences(self.rnn, hx, cx, list(F.separate(e, axis=0)))
        h = F.dropout(F.concat(ys, axis=0), self.output_dropout)
        return h, (hy, cy)

    def forward(self, x, t, state=None, labels=None):
        """Mean NLL per token of targets ``t`` (B, T) after ids ``x`` (B, T); returns (loss, state)."""
        h, state = self.hidden_states(x, state, labels)
        return self.output(h, t.reshape(-1)), state

    def token_nll(self, x, t, state=None, labels=None):
        """Per-token NLL (B*T,) and the new state (for perplexity evaluation)."""
        h, state = self.hidden_states(x, state, labels)
        return self.output.nll(h, t.reshape(-1)), state


class DropoutMasks:
    """Dropout with an optional record/replay of masks.

    ``fresh`` (default, upstream): every forward pass draws new masks.
    ``record`` stores the masks drawn in a pass; ``replay`` reuses them, so
    that an adversarial pass sees the same masks as the clean pass.
    """

    def __init__(self):
        self.mode = "fresh"
        self._masks = {}

    def record(self):
        self.mode, self._masks = "record", {}

    def replay(self):
        self.mode = "replay"

    def fresh(self):
        self.mode, self._masks = "fresh", {}

    def apply(self, x, ratio, slot):
        if not chainer.config.train or ratio == 0:
            return x
        if self.mode == "fresh":
            return F.dropout(x, ratio)
        if self.mode == "record":
            xp = chainer.backend.get_array_module(x)
            keep = xp.random.rand(*x.shape) >= ratio
            self._masks[slot] = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - ratio))
        return x * self._masks[slot]


class Classifier(chainer.Chain):
    """Appendix B classifier: ``EmbedID(V, D)`` (N(0,1)) -> dropout -> ``NStepLSTM(H)`` ->
    state at the final ``<eos>`` -> ``Linear(30)`` -> ReLU -> dropout -> ``Linear(2)``.

    Linear layers use LeCun-normal initialisation (Appendix B, eq. 10) and zero
    biases; ``fc_bias`` sets the initial bias of the ReLU layer (0 in the paper;
    a positive value keeps the units alive when the LM-initialised LSTM gives
    nearly the same state for every review, see docs/results.md). ``readout``:
    ``eos`` (paper) reads the state at the final ``<eos>``; ``last_word`` the
    state after the review's last word (the ``<eos>`` step is not run), an
    option for LMs that learned to wipe their state on reading ``<eos>``. Reviews
    are variable-length id arrays, each ending with ``<eos>``; no padding
    enters the LSTM (NStepLSTM runs each sequence for its own length), and the
    last hidden state of each sequence is the one at its ``<eos>``. The LSTM
    runs through :func:`~interpretable_adv.lstm.lstm_sequences` (same
    parameters and results as ``NStepLSTM``, without its per-step weight copies).

    The forward pass is split so that adversarial training can perturb the
    LSTM inputs: :meth:`embed_reviews` gives the flat (sum L_b, D) embeddings,
    :meth:`dropout_embeddings` applies the embedding dropout, and
    :meth:`logits_from_inputs` runs the LSTM and the head. As in the upstream
    code, a perturbation is added to the embeddings *after* dropout, and the
    gradient that defines it is taken there.
    """

    def __init__(self, n_vocab, embed_dim=256, hidden_dim=1024, fc_dim=30, n_classes=2, dropout=0.5, fc_bias=0.0,
                 readout="eos"):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError("readout must be one of %s, got %r" % (READOUTS, readout))
        self.readout = readout
        self.n_vocab = n_vocab
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.dropout_masks = DropoutMasks()
        lecun = chainer.initializers.LeCunNormal()
        with self.init_scope():
            self.embed = L.EmbedID(n_vocab, embed_dim, initialW=chainer.initializers.Normal(1.0))
            self.rnn = L.NStepLSTM(1, embed_dim, hidden_dim, 0.0, initialW=lecun)
            self.fc = L.Linear(hidden_dim, fc_dim, initialW=lecun, initial_bias=fc_bias)
            self.out = L.Linear(fc_dim, n_classes, initialW=lecun)

    @classmethod
    def from_config(cls, config, n_vocab):
        """The classifier of a ``train`` configuration (embedding, LSTM, ReLU layer, output)."""
        return cls(n_vocab, embed_dim=config["embed_dim"], hidden_dim=config["hidden_dim"], fc_dim=config["fc_dim"],
                   dropout=config["dropout"], fc_bias=config["fc_bias"], readout=config["readout"])

    def embed_reviews(self, xs):
        """Embeddings of a list of id arrays, concatenated: (sum of lengths, D)."""
        return self.embed(self.xp.concatenate(xs))

    def dropout_embeddings(self, flat):
        """Embedding dropout (fresh masks, or recorded/replayed ones; see :class:`DropoutMasks`)."""
        return self.dropout_masks.apply(flat, self.dropout, "embed")

    def logits_from_inputs(self, inputs, lengths):
        """Logits (B, 2) from LSTM inputs (sum L_b, D): embeddings after dropout, perturbed or not."""
        sequences = split_by_lengths(inputs, lengths)
        if self.readout == "last_word":   # the state after the last word: <eos> is not read
            sequences = [x[:-1] if len(x) > 1 else x for x in sequences]
        hy, _, _ = lstm_sequences(self.rnn, None, None, sequences)
        h = F.relu(self.fc(hy[-1]))
        return self.out(self.dropout_masks.apply(h, self.dropout, "fc"))

    def logits_from_embeddings(self, flat, lengths):
        """Logits from flat embeddings (embedding dropout, then the LSTM and the head)."""
        return self.logits_from_inputs(self.dropout_embeddings(flat), lengths)

    def forward(self, xs):
        """Logits (B, 2) for a list of id arrays."""
        return self.logits_from_embeddings(self.embed_reviews(xs), [len(x) for x in xs])


class ClassifierLoss(chainer.Chain):
    """Softmax cross-entropy and accuracy of a :class:`Classifier`; reports ``loss`` and ``accuracy``."""

    def __init__(self, predictor):
        super().__init__()
        with self.init_scope():
            self.predictor = predictor

    def forward(self, xs, t):
        logits = self.predictor(xs)
        loss = F.softmax_cross_entropy(logits, t)
        chainer.report({"loss": loss, "accuracy": F.accuracy(logits, t)}, self)
        return loss
