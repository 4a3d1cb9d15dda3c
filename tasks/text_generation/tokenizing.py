"""Characters or words <-> ids, with a vocabulary learned in one streaming pass over the training text.

Id 0 is the unknown token ("[UNK]"); the vocabulary follows, most frequent first.
Tokenising runs in TensorFlow (`tf.strings`, `keras.layers.StringLookup`), so
it runs inside `tf.data` and inside a saved model; turning ids back into text
runs in Python on the few ids a generation makes.
"""

import collections

import keras
import numpy as np
import tensorflow as tf

from toolkit.errors import ToolkitError

KINDS = ("character", "word")
UNKNOWN = "[UNK]"
NEWLINE = "<nl>"  # a word-level token for a line break: whitespace splitting would lose it
_PUNCTUATION = r"([^\p{L}\p{N}_\s])"  # RE2's \w is ASCII only: letters of any script are words
_NO_SPACE_BEFORE = set(".,;:!?')]}")
_NO_SPACE_AFTER = set("([{")


def tokens(texts, kind):
    """A string tensor (any shape) -> its tokens, ragged on a new last axis.

    Example:
    >>> tokens(tf.constant(["Hi, you.\\nOk"]), "word").to_list()
    [[b'Hi', b',', b'you', b'.', b'<nl>', b'Ok']]
    >>> tokens(tf.constant(["ab"]), "character").to_list()
    [[b'a', b'b']]
    """
    if kind == "character":
        return tf.strings.unicode_split(texts, "UTF-8")
    spaced = tf.strings.regex_replace(texts, _PUNCTUATION, r" \1 ")
    spaced = tf.strings.regex_replace(spaced, "\n", f" {NEWLINE} ")
    return tf.strings.split(spaced)


def learn_vocabulary(texts, kind, max_size=None):
    """The vocabulary of an iterable of text chunks: tokens seen, most frequent first (ties by token).

    Returns:
        (vocabulary list without the unknown token, {id: count} with id 0 for tokens left out,
        token count, character count)

    Example:
    >>> learn_vocabulary(["abca", "a"], "character", max_size=3)
    (['a', 'b'], {1: 3, 2: 1, 0: 1}, 5, 5)
    """
    counts, characters = collections.Counter(), 0
    for text in texts:
        characters += len(text)
        if kind == "character":
            counts.update(text)
        else:
            counts.update(t.decode("utf-8") for t in tokens(tf.constant(text), kind).numpy())
    if not counts:
        raise ToolkitError(
            "The training part of the corpus has no text.",
            expected="a corpus with text in its first part (the last part is validation)",
            fix="give more text, or a smaller validation_split",
        )
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

    Example:
    >>> encode(["abz"], ["a", "b"], "character")
    [[1, 2, 0]]
    """
    layer = layer or lookup(vocabulary)
    return [list(map(int, row)) for row in layer(tokens(tf.constant(list(texts)), kind)).to_list()]


def decode(ids, vocabulary, kind):
    """A list of ids -> text; ids outside the vocabulary (0) are dropped.

    Example:
    >>> decode([1, 2, 0, 1], ["a", "b"], "character")
    'aba'
    >>> decode([1, 2, 3, 4, 1], ["Hi", ",", "<nl>", "."], "word")
    'Hi,\\n. Hi'
    """
    words = [vocabulary[i - 1] for i in np.asarray(ids).tolist() if 0 < i <= len(vocabulary)]
    if kind == "character":
        return "".join(words)
    out = []
    for word in words:
        if word == NEWLINE:
            out.append("\n")
        elif not out or out[-1].endswith("\n") or out[-1][-1:] in _NO_SPACE_AFTER or word[:1] in _NO_SPACE_BEFORE:
            out.append(word)
        else:
            out.append(" " + word)
    return "".join(out)
