"""Sequence to sequence: `TextToText` (an encoder-decoder over characters) and `train_text_to_text`."""

import warnings

import keras
import numpy as np
import tensorflow as tf

from tasks.text_to_text import data as pairs_lib
from tasks.text_to_text import decoding
from tasks.text_to_text import model as model_lib  # noqa: F401  (registers gru_attention and transformer)
from tasks.text_to_text.preprocessor import END, PAD, SPECIAL, PairPreprocessor
from toolkit import backbones as backbones_lib
from toolkit import estimator, preprocessing
from toolkit import metrics as metrics_lib
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index
from toolkit.saving import register_task
from toolkit.task import Task

DECODERS = ("greedy", "beam")


@register_task
class TextToText(Task):
    """Learns to map source texts to target texts, character by character (an encoder-decoder).

    Trained with teacher forcing (the decoder sees the true previous characters), it
    writes a target by feeding back its own characters: greedily or by beam search
    (KerasHub's samplers). Scores: the loss, `exact_match` (the share of targets
    written exactly) and `cer` (character error rate), on validation and test.

    Args:
        backbone: "gru_attention" (a bidirectional GRU encoder and a GRU decoder with
            additive attention) or "transformer_seq2seq" (KerasHub's encoder and decoder blocks).
        width: embedding and hidden size.
        depth: encoder and decoder layers (or blocks).
        heads: attention heads ("transformer_seq2seq").
        dropout: dropout rate.
        decoder: "greedy" or "beam" (`beam_width` beams), for `predict` and the scores.
        beam_width: beams kept by beam search.
        max_length: longest source and target the model takes, in characters; None: twice
            the longest training text (the transformer's position table has this size).
        columns: (source column, target column) of a .csv / .tsv / JSON Lines file; None:
            a "source" / "target" (or "input" / "output") header, else the first two.
        epochs: most epochs to train (early stopping may stop sooner); None: 30, raised on a small set
            until the network gets 1,000 optimizer steps (at most 200 epochs).
        batch_size: pairs a step (64).
        **kwargs: the arguments every task shares (see `toolkit.Task`).

    Examples:
        >>> t2t = TextToText().fit("dates")  # doctest: +SKIP
        >>> t2t.predict(["3rd of March 1999"])  # doctest: +SKIP
        ['1999-03-03']
    """

    task_name = "text-to-text"
    description = "sequence to sequence: map one text to another (an encoder-decoder)"
    default_data = "dates"
    data_forms = (
        "a list of (source, target) string pairs, or a .csv / .tsv / .jsonl file of them (columns or keys source "
        "and target, input and output, or question and answer; --columns to name them)"
    )
    built_in_data = {
        "dates": "6,000 generated dates in ten surface forms -> ISO dates ('3rd of March 1999' -> '1999-03-03')",
        "number-words": "6,000 generated English number words -> digits ('four hundred and twelve' -> '412')",
    }
    backbone_filters = ({"modality": "text-to-text"},)
    serving_input = "texts"
    serving_options = {"decoder": str, "beam_width": int}
    preprocessor_class = PairPreprocessor
    budget_epochs = 30  # epochs=None on the built-in sets (4,200 training pairs); raised on a small set

    _parameter_constraints = {
        "width": estimator.POSITIVE,
        "depth": estimator.POSITIVE,
        "heads": estimator.POSITIVE,
        "dropout": estimator.DROPOUT,
        "decoder": estimator.one_of(DECODERS),
        "beam_width": estimator.POSITIVE,
        "max_length": estimator.at_least(2, none=True),
    }

    def __init__(
        self,
        *,
        backbone: str = "gru_attention",
        width: int = 128,
        depth: int = 1,
        heads: int = 4,
        dropout: float = 0.1,
        decoder: str = "greedy",
        beam_width: int = 4,
        max_length: int | None = None,
        columns: tuple | list | None = None,
        epochs: int | None = None,
        batch_size: int = 64,
        **kwargs,
    ):
        super().__init__(epochs=epochs, batch_size=batch_size, **kwargs)
        self.backbone = backbone
        self.width = width
        self.depth = depth
        self.heads = heads
        self.dropout = dropout
        self.decoder = decoder
        self.beam_width = beam_width
        self.max_length = max_length
        self.columns = columns

    # ------------------------------------------------------------------- data
    def read_data(self, data):
        pairs, about = pairs_lib.load_pairs(data, self.columns, self.seed)
        return Index([s for s, _ in pairs], [t for _, t in pairs], np.zeros(len(pairs), int), about)

    def make_preprocessor(self):
        return PairPreprocessor(max_length=self.max_length)

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        splits = super().prepare_data(data, validation_data)
        info, parts = splits.info, self.preprocessor_.parts
        self.say(
            f"Text to text: {info['train_examples']:,} train / {info['validation_examples']:,} validation / "
            f"{info['test_examples']:,} test pairs from {info['train_source']}; {len(self.vocabulary_)} characters."
        )
        # For the copy-the-source baseline.
        self._held_out = {"validation": parts[id(splits.validation)], "test": parts.get(id(splits.test))}
        return splits

    # What was learned lives in the preprocessor; these are its scikit-learn-style names.
    vocabulary_ = preprocessing.learned("vocabulary")
    max_length_ = preprocessing.learned("max_length")
    target_length_ = preprocessing.learned("target_length")

    # ------------------------------------------------------------------ model
    def build_model(self):
        return backbones_lib.BACKBONES.get(self.backbone)(
            len(SPECIAL) + len(self.vocabulary_),
            self.max_length_,
            width=self.width,
            depth=self.depth,
            heads=self.heads,
            dropout=self.dropout,
        )

    def training_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)

    def training_metrics(self):
        return []

    def score(self, dataset):
        loss = float(self.model_.evaluate(dataset, verbose=0, return_dict=True)["loss"])
        pairs = self.preprocessor_.parts.get(id(dataset))
        if not pairs:
            return {"loss": loss}
        written = self._write(self.model_, [s for s, _ in pairs], self.decoder)
        targets = [t for _, t in pairs]
        return {
            "loss": loss,
            "exact_match": float(np.mean([w == t for w, t in zip(written, targets)])),
            "cer": metrics_lib.error_rates(targets, written)["cer"],
        }

    def compare_with_baseline(self):
        """Beside the scores: copying the source unchanged (the trivial answer of a text-to-text task),
        scored on the same validation and test pairs; the run's value is its test score (validation without
        a test part)."""
        part, scores = self._judged_part()
        if "exact_match" not in scores:
            return
        baseline = {"part": part, "metric": "exact_match", "value": scores["exact_match"]}
        for part, pairs in getattr(self, "_held_out", {}).items():
            if pairs:
                targets, copies = [t for _, t in pairs], [s for s, _ in pairs]
                baseline[f"copy_source_{part}_cer"] = metrics_lib.error_rates(targets, copies)["cer"]
                baseline[f"copy_source_{part}_exact_match"] = float(np.mean([s == t for s, t in pairs]))
        self.metrics_["baseline"] = baseline

    def export_examples(self, part):
        batch = next(iter(part))
        return batch[0], batch[1]

    # ------------------------------------------------------------- inference
    def _write(self, model, sources, decoder, beam_width=None):
        """Source texts -> the model's target texts (greedy or beam search, compiled and cached:
        `decoding.Writer`, kept for the last model asked)."""
        writer = self.__dict__.get("_writer")
        if writer is None or writer.model is not model:
            writer = self.__dict__["_writer"] = decoding.Writer(model)
        source = self.preprocessor_.char_ids(tf.constant(sources)).to_tensor().numpy()
        if source.shape[1] == 0:
            source = np.zeros((len(sources), 1), np.int32)
        return self._texts(writer.write(source, self.target_length_ + 1, decoder, beam_width or self.beam_width))

    def _texts(self, rows):
        """Rows of target ids (the start token first) -> texts, each up to its end token."""
        written = []
        for row in rows:
            chars = []
            for i in row[1:].tolist():
                if i in (END, PAD):
                    break
                if i >= len(SPECIAL):
                    chars.append(self.vocabulary_[i - len(SPECIAL)])
            written.append("".join(chars))
        return written

    def predict(self, inputs):
        """Source text(s) -> target text(s), written by the task's `decoder`."""
        return self.generate(inputs)

    def generate(self, sources, decoder=None, beam_width=None):
        """Writes the target of each source.

        Args:
            sources: a string or a list of strings.
            decoder: "greedy" or "beam" (default: the task's).
            beam_width: beams for "beam" (default: the task's).

        Returns:
            A string for a string, else a list. A character never seen in training reads as unknown
            (warned); a source longer than `max_length_` is cut (warned).
        """
        self.check_fitted()
        single = isinstance(sources, str)
        sources = [sources] if single else list(sources)
        if not sources or not all(isinstance(s, str) for s in sources):
            raise ToolkitError(
                "generate takes a source string or a list of source strings.",
                expected="'3rd of March 1999' or ['3rd of March 1999', ...]",
                fix="pass strings",
            )
        decoder = decoder or self.decoder
        if decoder not in DECODERS:
            raise ToolkitError(f"decoder={decoder!r} is not valid.", expected=f"one of {DECODERS}", fix="pass one")
        known = set(self.vocabulary_)
        unknown = sorted({c for s in sources for c in s if c not in known})
        if unknown:
            warnings.warn(
                f"Characters never seen in training read as unknown: {unknown[:10]}.", UserWarning, stacklevel=2
            )
        if max(len(s) for s in sources) > self.max_length_:
            warnings.warn(
                f"A source is longer than the model's {self.max_length_} characters; it is cut.", stacklevel=2
            )
        written = self._write(self.model_, sources, decoder, beam_width)
        return written[0] if single else written

    def search_space(self, hp):
        return {
            **super().search_space(hp),
            "width": hp.Choice("width", [64, 128, 256]),
            "depth": hp.Int("depth", 1, 3),
            "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1),
        }


def train_text_to_text(data="dates", validation_data=None, **kwargs):
    """Trains a `TextToText` on `data` (see its arguments) and returns it, fitted and saved.

    Examples:
        >>> t2t = train_text_to_text("dates", backbone="transformer_seq2seq")  # doctest: +SKIP
        >>> t2t.predict("March 3rd, 1999")  # doctest: +SKIP
        '1999-03-03'
    """
    return TextToText(**kwargs).fit(data, validation_data)
