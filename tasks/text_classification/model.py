"""Text classification's models: a from-scratch network over a `TextVectorization` layer fitted on the
training texts, or a KerasHub `TextClassifier` on a pretrained preset; and the token-id form exported
where strings cannot go."""

import keras
import numpy as np
import tensorflow as tf

from tasks.text_classification import data as text_data
from toolkit import backbones as backbones_lib
from toolkit import export as export_lib
from toolkit import hf_checkpoints
from toolkit.errors import ToolkitError

TOKENIZING_LAYERS = ("tokenize", "pad_and_truncate")


@keras.saving.register_keras_serializable(package="toolkit")
class PadAndTruncate(keras.layers.Layer):
    """Fits token ids (0 = padding, real tokens first) to `length`, padding and cutting at either side.

    `TextVectorization` only pads and truncates at the end; this layer adds
    the other sides (keeping the end of long texts, or left-padding for
    recurrent models), which no Keras layer offers.

    Examples:
        >>> ids = np.array([[5, 6, 7, 0], [8, 0, 0, 0]])
        >>> PadAndTruncate(3, padding="start", truncation="start")(ids).numpy().tolist()
        [[5, 6, 7], [0, 0, 8]]
        >>> PadAndTruncate(2, truncation="start")(ids).numpy().tolist()
        [[6, 7], [8, 0]]
    """

    def __init__(self, length, padding="end", truncation="end", **kwargs):
        super().__init__(**kwargs)
        self.length = length
        self.padding = padding
        self.truncation = truncation

    def call(self, ids):
        ids = keras.ops.pad(ids, [[0, 0], [0, self.length]])  # at least `length` columns
        counts = keras.ops.sum(keras.ops.cast(keras.ops.not_equal(ids, 0), "int32"), axis=1, keepdims=True)
        kept = keras.ops.minimum(counts, self.length)
        source_start = counts - kept if self.truncation == "start" else keras.ops.zeros_like(kept)
        offset = self.length - kept if self.padding == "start" else keras.ops.zeros_like(kept)
        positions = keras.ops.arange(self.length, dtype="int32")[None, :] - offset
        valid = keras.ops.logical_and(positions >= 0, positions < kept)
        source = keras.ops.clip(source_start + positions, 0, keras.ops.shape(ids)[1] - 1)
        taken = keras.ops.take_along_axis(ids, source, axis=1)
        return keras.ops.where(valid, taken, keras.ops.zeros_like(taken))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.length)

    def get_config(self):
        return {**super().get_config(), "length": self.length, "padding": self.padding, "truncation": self.truncation}


def build(backbone, train_texts, num_classes, sequence_length, *, vocabulary_size, embedding_dim, width, dropout,
          padding="end", truncation="end"):  # fmt: skip
    """A from-scratch classifier taking raw strings: its vocabulary is fitted on `train_texts` (strings,
    files or a stream, in one streaming pass)."""
    cut_at_end = (padding, truncation) == ("end", "end")
    vectorize = keras.layers.TextVectorization(
        max_tokens=vocabulary_size, output_sequence_length=sequence_length if cut_at_end else None, name="tokenize"
    )
    vectorize.adapt(text_data.texts_dataset(train_texts).batch(256))
    inputs = keras.Input(shape=(), dtype="string", name="text")
    ids = vectorize(inputs)
    if not cut_at_end:
        ids = PadAndTruncate(sequence_length, padding, truncation, name="pad_and_truncate")(ids)
    if isinstance(backbone, keras.Model):
        network = keras.Sequential([backbones_lib.copy_model(backbone)], name="backbone")
    else:
        network = backbones_lib.BACKBONES.get(backbone, modality="text")(
            vectorize.vocabulary_size(), sequence_length, width=width, embedding_dim=embedding_dim
        )
    features = keras.layers.Dropout(dropout)(network(ids))
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes", dtype="float32")(features)
    return keras.Model(inputs, outputs, name="text_classifier")


def load_backbone(preset):
    """A preset's backbone, named "backbone" so the fine-tuning strategies find it inside the KerasHub model."""
    return backbones_lib.load_preset(preset, "backbone", name="backbone")


def build_preset(preset, backbone, classes, sequence_length, dropout):
    """A KerasHub TextClassifier: its preprocessor tokenises raw strings inside fit, predict and the saved file."""
    import keras_hub

    preprocessor = backbones_lib.load_preset(preset, "TextClassifierPreprocessor", sequence_length=sequence_length)
    if preprocessor is None:
        raise ToolkitError(
            f"Preset {preset!r} has no tokenizer files.",
            expected="a preset folder with the tokenizer (assets/ from save_to_preset, or vocab.txt / tokenizer.json)",
            fix="save the tokenizer with the backbone (`preprocessor.save_to_preset(folder)`)",
        )
    classifier = keras_hub.models.TextClassifier.from_preset(
        preset,
        num_classes=len(classes),
        backbone=backbone,
        preprocessor=preprocessor,
        activation="softmax",
        dropout=dropout,
    )
    if hf_checkpoints.is_hf_folder(preset):  # a *ForSequenceClassification head, when it fits
        hf_checkpoints.start_classifier_from_checkpoint(classifier, preset, classes)
    return classifier


def ids_form(model, format, sequence_length, padding, truncation):
    """The model from token ids on, for formats without string operations (ONNX, LiteRT).

    Its vocabulary is written beside it and export.json says how to tokenise (the caller's part); the
    parity check tokenises the kept texts with the model's own layers.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    tokenizers = [layer for layer in layers if layer.name in TOKENIZING_LAYERS]
    ids = keras.Input((sequence_length,), dtype="int64", name="token_ids")
    x = ids
    for layer in layers:  # the layers after tokenising, a chain: backbone, dropout, classes
        if layer.name not in TOKENIZING_LAYERS:
            x = layer(x)

    def inputs(texts):
        x = tf.constant(texts)
        for layer in tokenizers:
            x = layer(x)
        return np.asarray(x, np.int64)

    def vocabulary_file(path):
        return path.with_name(path.name + ".vocabulary.txt")

    def notes(path):
        vectorize = model.get_layer("tokenize")
        with open(vocabulary_file(path), "w", encoding="utf-8") as f:
            f.writelines(f"{token}\n" for token in vectorize.get_vocabulary())
        config = vectorize.get_config()
        return {
            "inputs": {"token_ids": f"int64 (batch, {sequence_length})"},
            "vocabulary": str(vocabulary_file(path)),
            "tokenise": (
                f"the caller's part ({format} carries no string operations): standardize "
                f"{config['standardize']!r}, split {config['split']!r}, each token -> its line number in "
                f"the vocabulary file (0: padding, 1: unknown), {sequence_length} ids a text, "
                f"padded with 0 at the {padding} and cut at the {truncation}; "
                "or export format='savedmodel', which takes the strings"
            ),
        }

    return export_lib.Form(
        keras.Model(ids, x, name="text_classifier_from_ids"),
        inputs=inputs,
        notes=notes,
        files=lambda path: [vocabulary_file(path)],
    )
