"""The span model: an encoder's per-token features -> start and end logits (BERT's SQuAD head)."""

import keras

from toolkit import backbones as backbones_lib
from toolkit import hf_checkpoints
from toolkit.errors import ToolkitError

INPUTS = ("token_ids", "segment_ids", "padding_mask")


@keras.saving.register_keras_serializable(package="toolkit")
class SpanLogits(keras.layers.Layer):
    """(batch, time, 2) logits and the padding mask -> {"start", "end"}: (batch, time) each, padding at -1e4.

    Padding can then never be chosen as an answer's start or end, and takes no probability.

    Examples:
        >>> import numpy as np
        >>> out = SpanLogits()(np.ones((1, 3, 2), "float32"), np.array([[1, 1, 0]]))
        >>> out["start"].numpy().tolist()
        [[1.0, 1.0, -10000.0]]
    """

    def call(self, logits, padding_mask):
        keep = keras.ops.cast(padding_mask, "bool")
        logits = keras.ops.cast(logits, "float32")
        masked = [keras.ops.where(keep, logits[:, :, k], -1e4) for k in (0, 1)]
        return {"start": masked[0], "end": masked[1]}

    def compute_output_spec(self, logits, padding_mask):
        shape = logits.shape[:-1]
        return {name: keras.KerasTensor(shape, dtype="float32") for name in ("start", "end")}


@keras.saving.register_keras_serializable(package="toolkit")
class QuestionMatch(keras.layers.Layer):
    """1 at each context token whose id is also in the question, else 0 (DrQA's exact-match feature).

    Inputs are windows `[CLS] question [SEP] context [SEP]` with segment 0 up to the first [SEP].
    Written by hand: no Keras or KerasHub layer computes it.

    Examples:
        >>> import numpy as np
        >>> ids = np.array([[1, 7, 8, 2, 9, 7, 2, 0]])
        >>> segments = np.array([[0, 0, 0, 0, 1, 1, 1, 0]])
        >>> QuestionMatch()(ids, segments, ids > 0).numpy().tolist()
        [[0, 0, 0, 0, 0, 1, 0, 0]]
    """

    def call(self, token_ids, segment_ids, padding_mask):
        # In 0/1 integers rather than booleans, and expand_dims rather than None-indexing: LiteRT's
        # converter fails on a zeros_like of booleans, and its built-in ops lack new-axis slices.
        ones = lambda x: keras.ops.cast(x, "int32")  # noqa: E731
        valid = ones(keras.ops.not_equal(ones(padding_mask), 0))
        first_segment = ones(keras.ops.equal(segment_ids, 0)) * valid
        question_end = keras.ops.sum(first_segment, axis=1, keepdims=True) - 1  # its [SEP]
        positions = keras.ops.expand_dims(keras.ops.arange(keras.ops.shape(token_ids)[1]), 0)
        question = ones(positions >= 1) * ones(positions < question_end)
        same = ones(keras.ops.equal(keras.ops.expand_dims(token_ids, 2), keras.ops.expand_dims(token_ids, 1)))
        found = keras.ops.max(same * keras.ops.expand_dims(question, 1), axis=-1)
        return found * (1 - first_segment) * valid

    def compute_output_spec(self, token_ids, segment_ids, padding_mask):
        return keras.KerasTensor(token_ids.shape, dtype="int32")


def span_model(backbone, takes, question_match=False):
    """The question-answering model around `backbone`.

    Args:
        backbone: a `keras.Model` named "backbone" mapping its inputs to per-token features: a KerasHub
            backbone (a dict of inputs, features in "sequence_output") or a from-scratch one (token ids).
        takes: the names of `INPUTS` the backbone reads; the model always takes all three.
        question_match: add, for from-scratch encoders, each context token's "also in the question"
            flag (`QuestionMatch`) to its features and read them through one more attention block: a
            network without pretraining otherwise has to learn to match question and context words
            from little data (it did not, on the built-in set).

    Examples:
        >>> from toolkit.text_backbones import transformer
        >>> model = span_model(transformer(16, 50, embedding_dim=8, width=8, sequences=True), ["token_ids"], True)
        >>> import numpy as np
        >>> ids = np.array([[1, 5, 2, 7, 8, 2]])
        >>> out = model({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": ids > 0})
        >>> sorted(out), out["start"].shape
        (['end', 'start'], TensorShape([1, 6]))
    """
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUTS}
    if list(takes) == ["token_ids"]:
        features = backbone(inputs["token_ids"])
    else:
        features = backbone({name: inputs[name] for name in takes})
    if isinstance(features, dict):
        features = features["sequence_output"]
    if question_match:
        import keras_hub

        width = features.shape[-1]
        match = QuestionMatch(name="question_match")(inputs["token_ids"], inputs["segment_ids"], inputs["padding_mask"])
        flag = keras.layers.Embedding(2, width, name="match_embedding")(match)
        features = keras.layers.Add(name="with_match")([features, flag])
        heads = 4 if width % 4 == 0 else 1
        features = keras_hub.layers.TransformerEncoder(2 * width, heads, dropout=0.1, name="span_block")(
            features, padding_mask=keras.ops.cast(inputs["padding_mask"], "bool")
        )
    logits = keras.layers.Dense(2, name="span", dtype="float32")(features)
    outputs = SpanLogits(name="span_logits")(logits, inputs["padding_mask"])
    return keras.Model(inputs, outputs, name="question_answerer")


def build(backbone, preset, pretrained, max_length, vocabulary_size, embedding_dim, width):
    """The span model on `backbone`: a preset (its encoder up to per-token features; a Hugging Face
    question-answering checkpoint keeps its span head), a `keras.Model`, or a from-scratch name."""
    if preset:
        encoder = backbones_lib.load_preset(backbone, "backbone", name="backbone")
        limit = getattr(encoder, "max_sequence_length", None)
        if limit is not None and max_length > limit:
            raise ToolkitError(
                f"max_length={max_length} is longer than preset {backbone!r} reads ({limit} tokens).",
                expected=f"max_length <= {limit}",
                fix=f"pass max_length={limit} or less",
            )
        takes = list(encoder.input) if isinstance(encoder.input, dict) else ["token_ids"]
        if isinstance(encoder.output, dict):
            # The encoder up to its per-token features: a pooler (BERT's) has no part in spans, and
            # its weights would get no gradients.
            encoder = keras.Model(encoder.input, encoder.output["sequence_output"], name="backbone")
    elif isinstance(backbone, keras.Model):
        encoder, takes = keras.Sequential([backbones_lib.copy_model(backbone)], name="backbone"), ["token_ids"]
    else:
        encoder = backbones_lib.BACKBONES.get(backbone, modality="text")(
            vocabulary_size, max_length, width=width, embedding_dim=embedding_dim, sequences=True
        )
        takes = ["token_ids"]
    model = span_model(encoder, takes, question_match=not pretrained)
    if preset and hf_checkpoints.is_hf_folder(backbone):
        head = hf_checkpoints.span_head(backbone)
        if head is not None:  # a SQuAD-tuned checkpoint keeps the span head it learned
            model.get_layer("span").set_weights([w.astype("float32") for w in head])
    return model
