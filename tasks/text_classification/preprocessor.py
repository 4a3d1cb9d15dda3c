"""What text classification learns from the training part (class names, tokens per text) and the
tf.data pipeline of (string, class index) batches; the vocabulary is learned inside the model."""

import math
import os

import numpy as np
import tensorflow as tf

from tasks.text_classification import data as text_data
from toolkit import data as data_lib
from toolkit import image_streams
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Preprocessor


class TextPreprocessor(Preprocessor):
    """Learns the class names and a sequence length from the training texts; batches any part as strings.

    Args:
        sequence_length: tokens per text, or None to cover 95% of the training texts (rounded up to 8).
        subwords: count subword pieces (a pretrained tokenizer: about 1.3 a word, plus two markers).
        limit: the longest sequence the model takes (512, or a preset's own limit).
        seed: seeds the sample of files word counts are taken from.

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> texts = ["a fine film", "dull", "loved it", "a waste of a whole evening"]
        >>> preprocessor = TextPreprocessor()
        >>> preprocessor.adapt(Index(np.array(texts, object), ["pos", "neg", "pos", "neg"]))
        >>> preprocessor.classes, preprocessor.sequence_length
        (['neg', 'pos'], 8)
    """

    state_attributes = ("classes", "sequence_length")

    def __init__(self, *, sequence_length=None, subwords=False, limit=512, seed=0):
        super().__init__(sequence_length=sequence_length, subwords=subwords, limit=limit, seed=seed)
        self.train_texts = None  # the training part, which the model's vocabulary is fitted on (not saved)

    def adapt(self, index):
        self.classes = list(index.classes) if index.classes is not None else data_lib.encode_labels(index.targets)[1]
        data_lib.require_two_classes(self.encode(index.targets), self.classes)
        self.train_texts = index.inputs
        self.sequence_length = self.config["sequence_length"] or self.choose_sequence_length(index.inputs)

    def choose_sequence_length(self, texts):
        """Covers 95% of `texts` (all of them, or a bounded sample of files), rounded up to 8."""
        words = np.percentile(text_data.word_counts(texts, self.config["seed"]), 95)
        if self.config["subwords"]:
            words = words * 1.3 + 2  # subword pieces per word, plus [CLS] and [SEP]
        return int(min(self.config["limit"], max(8, 8 * math.ceil(words / 8))))

    def encode(self, targets):
        """Labels -> class indices (an unknown label is a clear error)."""
        return data_lib.encode_labels(targets, self.classes)[0]

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        """A batched dataset of (strings, class indices).

        Strings the user passed or a table file held are in memory already and are cached; files are
        read inside tf.data and cached when they fit the memory budget; streams are read again each
        epoch, shuffled in a bounded buffer.
        """
        texts, y = index.inputs, self.encode(index.targets)
        if isinstance(texts, text_data.TextFiles):
            self.files += texts.paths.tolist()
        cache = not isinstance(texts, data_lib.Stream) and (
            not isinstance(texts, text_data.TextFiles)
            or sum(os.path.getsize(p) for p in texts.paths) <= image_streams.MEMORY_CACHE_BYTES
        )
        dataset = tf.data.Dataset.zip((text_data.texts_dataset(texts), tf.data.Dataset.from_tensor_slices(y)))
        return data_lib.cached_batches(dataset, len(y), batch_size, cache=cache, shuffle=training, seed=seed)

    def inputs(self, raw):
        """One string or a list of strings -> a string tensor (other values and empty texts are errors)."""
        texts = [raw] if isinstance(raw, str) else list(raw)
        bad = sorted({type(t).__name__ for t in texts if not isinstance(t, str)})
        if bad:
            raise ToolkitError(
                f"predict got values of type {bad}.", expected="a string or a list of strings", fix="pass the texts"
            )
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        if empty:  # training skips such rows; a prediction for nothing would look as confident as any other
            raise ToolkitError(
                f"predict got {len(empty)} empty text(s) (at positions {empty[:10]}).",
                expected="texts with at least one non-space character",
                fix="drop the empty texts before predicting",
            )
        return tf.constant(texts, dtype=tf.string)


def as_index(texts):
    """Strings become an object array (indexable by positions); files and streams stay as they are."""
    if isinstance(texts, (text_data.TextFiles, data_lib.Stream)):
        return texts
    return np.array(texts, dtype=object)
