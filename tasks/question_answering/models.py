"""The span model: an encoder's per-token features -> start and end logits (BERT's SQuAD head)."""

import keras

INPUTS = ("token_ids", "segment_ids", "padding_mask")


@keras.saving.register_keras_serializable(package="toolkit")
class SpanLogits(keras.layers.Layer):
    """(batch, time, 2) logits and the padding mask -> {"start", "end"}: (batch, time) each, padding at -1e4.

    Padding can then never be chosen as an answer's start or end, and takes no probability.

    Example:
    >>> import numpy as np
    >>> out = SpanLogits()(np.ones((1, 3, 2), "float32"), np.array([[1, 1, 0]]))
    >>> out["start"].numpy().tolist()
    [[1.0, 1.0, -10000.0]]
    """

    def call(self, logits, padding_mask):
        keep = keras.ops.cast(padding_mask, "bool")
        logits = keras.ops.cast(logits, "float32")
        masked = [keras.ops.where(keep, logits[..., k], -1e4) for k in (0, 1)]
        return {"start": masked[0], "end": masked[1]}

    def compute_output_spec(self, logits, padding_mask):
        shape = logits.shape[:-1]
        return {name: keras.KerasTensor(shape, dtype="float32") for name in ("start", "end")}


def span_model(backbone, takes):
    """The question-answering model around `backbone`.

    Args:
        backbone: a `keras.Model` named "backbone" mapping its inputs to per-token features: a KerasHub
            backbone (a dict of inputs, features in "sequence_output") or a from-scratch one (token ids).
        takes: the names of `INPUTS` the backbone reads; the model always takes all three.

    Example:
    >>> from toolkit.text_backbones import transformer
    >>> model = span_model(transformer(None, 50, embedding_dim=8, width=8, sequences=True), ["token_ids"])
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
    logits = keras.layers.Dense(2, name="span", dtype="float32")(features)
    outputs = SpanLogits(name="span_logits")(logits, inputs["padding_mask"])
    return keras.Model(inputs, outputs, name="question_answerer")
