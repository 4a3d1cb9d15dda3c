"""Characters, words or subwords <-> ids, with a vocabulary learned from the training text.

Id 0 is the unknown token ("[UNK]"); the vocabulary follows (characters and words most
frequent first). Subwords are WordPiece pieces ("play", "##ing"), their vocabulary learned
by KerasHub's `compute_word_piece_vocabulary` and applied by its `WordPieceTokenizer`.
Tokenising runs in TensorFlow (`tf.strings`, `keras.layers.StringLookup`), so
it runs inside `tf.data` and inside a saved model; turning ids back into text
runs in Python on the few ids a generation makes.
"""

import collections
import functools

import keras
import numpy as np
import tensorflow as tf

from toolkit.errors import ToolkitError

KINDS = ("character", "word", "wordpiece")
DEFAULT_SIZES = {"character": None, "word": 20_000, "wordpiece": 8_000}  # vocabulary_size=None
UNKNOWN = "[UNK]"
NEWLINE = "<nl>"  # a word-level token for a line break: whitespace splitting would lose it
_PUNCTUATION = r"([^\p{L}\p{N}_\s])"  # RE2's \w is ASCII only: letters of any script are words
_NO_SPACE_BEFORE = set(".,;:!?')]}")
_NO_SPACE_AFTER = set("([{")


def tokens(texts, kind, vocabulary=None):
    """A string tensor (any shape) -> its tokens, ragged on a new last axis.

    `vocabulary` (the learned one, without the unknown token) is needed for "wordpiece",
    whose pieces depend on it.

    Examples:
        >>> tokens(tf.constant(["Hi, you.\\nOk"]), "word").to_list()
        [[b'Hi', b',', b'you', b'.', b'<nl>', b'Ok']]
        >>> tokens(tf.constant(["ab"]), "character").to_list()
        [[b'a', b'b']]
        >>> tokens(tf.constant(["Hi, you"]), "wordpiece", ["<nl>", "H", "##i", ",", "you"]).to_list()
        [[b'H', b'##i', b',', b'you']]
    """
    if kind == "character":
        return tf.strings.unicode_split(texts, "UTF-8")
    if kind == "wordpiece":
        if vocabulary is None:
            raise ValueError("wordpiece tokens need the vocabulary")
        texts = tf.convert_to_tensor(texts)
        pieces = _word_piece_tokenizer(tuple(vocabulary))(_mark_newlines(texts))
        if isinstance(pieces, (tf.Tensor, tf.RaggedTensor)):  # inside tf.data
            return pieces
        # KerasHub hands eager results back as Python lists.
        if texts.shape.rank == 0:
            return tf.constant(pieces, tf.string, shape=(len(pieces),))
        return tf.ragged.constant(pieces, tf.string, ragged_rank=texts.shape.rank)
    spaced = tf.strings.regex_replace(texts, _PUNCTUATION, r" \1 ")
    spaced = tf.strings.regex_replace(spaced, "\n", f" {NEWLINE} ")
    return tf.strings.split(spaced)


def _mark_newlines(texts):
    # WordPiece splits on all whitespace; a line break is kept as the special token NEWLINE.
    return tf.strings.regex_replace(texts, "\n", f" {NEWLINE} ")


@functools.lru_cache(maxsize=4)
def _word_piece_tokenizer(vocabulary):
    import keras_hub

    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=[UNKNOWN, *vocabulary],
        lowercase=False,
        strip_accents=False,
        special_tokens=[NEWLINE],
        special_tokens_in_strings=True,
        dtype="string",
    )


def learn_word_pieces(texts, max_size):
    """A WordPiece vocabulary of at most `max_size` ids (the unknown token's included) from text chunks,
    learned by KerasHub's `compute_word_piece_vocabulary` (TensorFlow Text's BERT vocabulary builder).

    It counts words, so it reads the chunks once into a `tf.data` pipeline (memory grows with the
    distinct words, not with the text).
    """
    import keras_hub

    dataset = tf.data.Dataset.from_generator(lambda: iter(texts), output_signature=tf.TensorSpec((), tf.string))
    dataset = dataset.map(lambda t: tf.strings.regex_replace(t, "\n", " "))
    learned = keras_hub.tokenizers.compute_word_piece_vocabulary(
        dataset, max(3, max_size), lowercase=False, strip_accents=False, reserved_tokens=[UNKNOWN, NEWLINE]
    )
    return [t for t in learned if t != UNKNOWN]


def learn_vocabulary(texts, kind, max_size=None):
    """The vocabulary of an iterable of text chunks: tokens seen, most frequent first (ties by token);
    for "wordpiece", KerasHub's WordPiece vocabulary of `max_size` (`texts` is then read twice, so it
    must be re-iterable: a list or a callable returning a fresh iterator).

    Returns:
        (vocabulary list without the unknown token, {id: count} with id 0 for tokens left out,
        token count, character count)

    Examples:
        >>> learn_vocabulary(["abca", "a"], "character", max_size=3)
        (['a', 'b'], {1: 3, 2: 1, 0: 1}, 5, 5)
    """
    fresh = texts if callable(texts) else lambda: iter(texts)
    pieces = learn_word_pieces(fresh(), max_size) if kind == "wordpiece" else None
    counts, characters = collections.Counter(), 0
    for text in fresh():
        characters += len(text)
        if kind == "character":
            counts.update(text)
        else:
            counts.update(t.decode("utf-8") for t in tokens(tf.constant(text), kind, pieces).numpy())
    if not counts:
        raise ToolkitError(
            "The training part of the corpus has no text.",
            expected="a corpus with text in its first part (the last part is validation)",
            fix="give more text, or a smaller validation_split",
        )
    if kind == "wordpiece":  # KerasHub's order (reserved, then characters, then pieces) is the vocabulary
        ordered = pieces
        by_id = {i + 1: counts[t] for i, t in enumerate(ordered) if counts[t]}
        by_id[0] = counts.get(UNKNOWN, 0)
        return ordered, {i: n for i, n in by_id.items() if n}, sum(counts.values()), characters
    ordered = sorted(counts, key=lambda t: (-counts[t], t))
    if max_size is not None:
        ordered = ordered[: max(1, max_size - 1)]  # one id is the unknown token's
    by_id = {i + 1: counts[t] for i, t in enumerate(ordered)}
    left_out = sum(counts.values()) - sum(by_id.values())
    if left_out:
        by_id[0] = left_out
    return ordered, by_id, sum(counts.values()), characters


def lookup(vocabulary):
    """A `StringLookup` layer: token -> id (0 for tokens outside the vocabulary)."""
    return keras.layers.StringLookup(vocabulary=list(vocabulary), num_oov_indices=1, mask_token=None, oov_token=UNKNOWN)


def encode(texts, vocabulary, kind, layer=None):
    """Python strings -> lists of ids (unknown tokens are 0).

    Examples:
        >>> encode(["abz"], ["a", "b"], "character")
        [[1, 2, 0]]
    """
    layer = layer or lookup(vocabulary)
    return [list(map(int, row)) for row in layer(tokens(tf.constant(list(texts)), kind, vocabulary)).to_list()]


def decode(ids, vocabulary, kind):
    """A list of ids -> text; ids outside the vocabulary (0) are dropped.

    Examples:
        >>> decode([1, 2, 0, 1], ["a", "b"], "character")
        'aba'
        >>> decode([1, 2, 3, 4, 1], ["Hi", ",", "<nl>", "."], "word")
        'Hi,\\n. Hi'
        >>> decode([2, 3, 4, 1, 5], ["<nl>", "play", "##ing", ",", "go"], "wordpiece")
        'playing,\\ngo'
    """
    words = [vocabulary[i - 1] for i in np.asarray(ids).tolist() if 0 < i <= len(vocabulary)]
    if kind == "character":
        return "".join(words)
    if kind == "wordpiece":  # glue "##" continuations to the piece before, then space words as words
        glued = []
        for word in words:
            if word.startswith("##") and glued and glued[-1] != NEWLINE:
                glued[-1] += word[2:]
            else:
                glued.append(word.removeprefix("##"))
        words = glued
    out = []
    for word in words:
        if word == NEWLINE:
            out.append("\n")
        elif not out or out[-1].endswith("\n") or out[-1][-1:] in _NO_SPACE_AFTER or word[:1] in _NO_SPACE_BEFORE:
            out.append(word)
        else:
            out.append(" " + word)
    return "".join(out)
