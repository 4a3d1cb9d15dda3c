"""Greedy generation from strings to strings as one TensorFlow function, for the SavedModel export.

A SavedModel served without Python (TensorFlow Serving, TF.js) needs the tokeniser, the loop and
the detokeniser in the graph. This is that function: it reads each prompt through the run's own
tokeniser (the learned vocabulary's `StringLookup`, or a preset's KerasHub tokenizer), adds
`max_length` tokens by greedy decoding with `generate`'s own cached steps (`decoding.Decoder
.greedy_graph`: keys and values or recurrent states while the text fits the context, the last
`sequence_length` tokens past it), and writes the text back. Written here because KerasHub's
`CausalLM.generate` needs its own backbone's cache layout, which a from-scratch model does not
have; the export checks it against `generate(sampler="greedy")`.
"""

import tensorflow as tf

from tasks.text_generation import tokenizing
from toolkit.errors import ToolkitError

_NO_SPACE_BEFORE = r"[.,;:!?')\]}]"
_NO_SPACE_AFTER = r"[(\[{]"


def greedy_function(task, max_length):
    """(a function from a batch of prompt strings to their continued texts, the layers it uses)."""
    model, corpus = task.model_, task.preprocessor_
    hub, kind = corpus.tokenizer(), corpus.kind
    start = tf.constant(corpus.encode(["\n"])[0] or [1], tf.int32)  # an empty prompt starts a new line
    if hub is not None:

        def encode(prompt):
            return tf.cast(hub(prompt), tf.int32)

        def decode(ids):
            return hub.detokenize(ids)

        tracked = [hub]
    else:
        vocabulary = list(corpus.vocabulary)
        lookup = tokenizing.lookup(vocabulary)
        table = tf.constant(["", *vocabulary])  # id -> token

        def encode(prompt):
            return tf.cast(lookup(tokenizing.tokens(prompt, kind, vocabulary)), tf.int32)

        def decode(ids):
            return _join(tf.gather(table, tf.boolean_mask(ids, ids > 0)), kind)  # unknown ids write nothing

        lookup(tf.constant([""]))  # built, as an export archive needs its layers
        tracked = [lookup]

    decoder = task._decoder(model)

    def one(prompt):
        ids = encode(prompt)
        ids = tf.cond(tf.size(ids) > 0, lambda: ids, lambda: start)
        given = tf.size(ids)
        ids = decoder.greedy_graph(ids, max_length)
        text = decode(ids[given:])
        if hub is None and kind in ("word", "wordpiece"):  # a space between a word and the next
            spaced = tf.logical_and(
                tf.strings.regex_full_match(text, r"^[\p{L}\p{N}].*"),
                tf.logical_not(tf.strings.regex_full_match(prompt, r"(?s)(.*\s)?")),
            )
            spaced = tf.logical_and(spaced, tf.strings.length(prompt) > 0)
            text = tf.where(spaced, tf.strings.join([" ", text]), text)
        return tf.strings.join([prompt, text])

    def generate(prompts):
        return tf.map_fn(one, prompts, fn_output_signature=tf.string)

    return generate, tracked


def _join(tokens, kind):
    """Tokens -> text by `tokenizing.decode`'s rules, in TensorFlow: characters join as they are; words
    and word pieces join with spaces, "##" pieces glue to the word before, no space before closing
    punctuation or after opening, and the line-break token becomes a line break without spaces."""
    if kind == "character":
        return tf.strings.reduce_join(tokens)
    text = tf.strings.reduce_join(tokens, separator=" ")
    if kind == "wordpiece":
        text = tf.strings.regex_replace(text, r" ##", "")
        text = tf.strings.regex_replace(text, r"^##", "")
    text = tf.strings.regex_replace(text, " ?" + tokenizing.NEWLINE + " ?", "\n")
    text = tf.strings.regex_replace(text, " (" + _NO_SPACE_BEFORE + ")", r"\1")
    return tf.strings.regex_replace(text, "(" + _NO_SPACE_AFTER + ") ", r"\1")


def savedmodel_form(task):
    """The `toolkit.export.Form` of a SavedModel with the token-id model and `generate` (`greedy_function`),
    checked against `task.generate(sampler="greedy")` on the run's sample prompts."""
    from toolkit import export as export_lib

    prompts = [s["prompt"] for s in getattr(task, "samples_", None) or []] or ["\n"]

    def endpoints():
        fn, tracked = greedy_function(task, task.max_length)
        return [("generate", fn, [tf.TensorSpec([None], tf.string, name="prompts")], tracked)]

    def check(path):
        loaded = tf.saved_model.load(str(path))  # held: its variables live as long as it does
        got = [t.decode("utf-8") for t in loaded.generate(tf.constant(prompts)).numpy()]
        wanted = task.generate(prompts, max_length=task.max_length, sampler="greedy")
        if got != wanted:
            raise ToolkitError(
                f"The SavedModel's generate wrote {got[0][:80]!r} where the task writes {wanted[0][:80]!r}.",
                expected="the same greedy text from both",
                fix="export the token-id model (format='onnx' or 'litert') and generate in Python",
            )
        return {"generate": {"prompts": prompts, "max_length": task.max_length, "matches_greedy": True}}

    return export_lib.Form(task.model_, endpoints=endpoints, check=check)
