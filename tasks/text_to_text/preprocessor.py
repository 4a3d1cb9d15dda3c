"""What text to text learns from the training pairs (the characters, the longest source and target) and
the tf.data pipeline that tokenises pairs character by character for teacher forcing."""

import tensorflow as tf

from toolkit.errors import ToolkitError
from toolkit.preprocessing import Preprocessor

SPECIAL = ("[PAD]", "[UNK]", "[START]", "[END]")
PAD, UNK, START, END = range(4)


class PairPreprocessor(Preprocessor):
    """Learns the training characters and lengths; batches ({"source", "target": [START] + target}, target + [END]).

    Args:
        max_length: longest source and target the model takes, in characters; None: twice the longest
            training text.

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> preprocessor = PairPreprocessor()
        >>> preprocessor.adapt(Index(["ab", "ba"], ["a", "b"]))
        >>> preprocessor.vocabulary, preprocessor.max_length, preprocessor.target_length
        (['a', 'b'], 4, 3)
        >>> (x, y), = preprocessor.dataset(Index(["ab"], ["b"]), batch_size=1)
        >>> x["source"].numpy().tolist(), x["target"].numpy().tolist(), y.numpy().tolist()
        ([[4, 5]], [[2, 5]], [[5, 3]])
    """

    state_attributes = ("vocabulary", "max_length", "target_length")

    def __init__(self, *, max_length=None):
        super().__init__(max_length=max_length)
        self.parts = {}  # id(dataset) -> its (source, target) pairs, for scoring what the model writes
        self._table = None

    def adapt(self, index):
        pairs = list(zip(index.inputs, index.targets))
        self.vocabulary = sorted({c for s, t in pairs for c in s + t})
        self._table = None  # a refit learns its own characters
        longest = max(max(len(s), len(t) + 1) for s, t in pairs)
        self.max_length = self.config["max_length"] or 2 * longest
        self.target_length = min(self.max_length, 2 * max(len(t) for _, t in pairs) + 1)

    def character_table(self):
        """The learned characters -> ids 4, 5, ... (1 for any other), made once, outside any tf.data trace."""
        if getattr(self, "_table", None) is None:
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(self.vocabulary, tf.string),
                    tf.range(len(SPECIAL), len(SPECIAL) + len(self.vocabulary)),
                ),
                default_value=UNK,
            )
        return self._table

    def char_ids(self, texts):
        """A string tensor (any shape) -> character ids, ragged on a new last axis: 4 and up for the learned
        characters, 1 (unknown) for one never seen in training; at most `max_length` - 1 a text."""
        table = self.character_table()
        characters = tf.strings.unicode_split(texts, "UTF-8")
        if isinstance(characters, tf.RaggedTensor):  # a batch of texts
            return tf.ragged.map_flat_values(table.lookup, characters)[:, : self.max_length - 1]
        return table.lookup(characters)[: self.max_length - 1]  # one text (inside tf.data)

    def dataset(self, index, *, training=False, batch_size=64, seed=0):
        """Pairs (strings held in memory) -> batches tokenised inside tf.data and padded with 0 per batch."""
        pairs = list(zip(index.inputs, index.targets))
        if not pairs:
            raise ToolkitError(
                "A part of the data holds no pairs: none is left for validation or evaluation.",
                expected="enough pairs for a validation part (validation_split of them)",
                fix="give more pairs, or validation_data=",
            )
        self.character_table()

        def encode(source, target):
            ids = self.char_ids(target)
            begin, end = tf.constant([START], tf.int32), tf.constant([END], tf.int32)
            return {"source": self.char_ids(source), "target": tf.concat([begin, ids], 0)}, tf.concat([ids, end], 0)

        dataset = tf.data.Dataset.from_tensor_slices((list(index.inputs), list(index.targets)))
        if training:
            dataset = dataset.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        dataset = dataset.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)
        self.parts[id(dataset)] = pairs
        return dataset
