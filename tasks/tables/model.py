"""The table model: raw column values -> `TableEncoder` -> backbone -> a class softmax or a value.

A regression model ends in `TargetScale`, so it answers in the target's own units, while its loss
(`ScaledLoss`) compares standardised values: the network learns a target of mean 0 and spread 1
whatever the units (grams, dollars), and Huber's threshold means the same on every table.
"""

import keras

from tasks.tables import backbones as table_backbones  # noqa: F401  (registers the table backbones)
from tasks.tables.columns import input_name
from tasks.tables.encoding import TableEncoder, cardinalities, numeric_width
from toolkit.backbones import BACKBONES

LOSSES = {
    "mse": keras.losses.MeanSquaredError,
    "mae": keras.losses.MeanAbsoluteError,
    "huber": keras.losses.Huber,
    "log_cosh": keras.losses.LogCosh,
}
# exp() of a standardised log target past this would overflow float32.
MOST_LOG_Z = 30.0


def inputs(plan):
    """One raw input per planned column: float32 for numbers, strings for the rest."""
    return {
        input_name(column): keras.Input((), dtype="float32" if column["type"] == "numeric" else "string",
                                        name=input_name(column))
        for column in plan
    }  # fmt: skip


def build(plan, backbone, outputs, *, width=128, depth=1, dropout=0.1, target_scale=None):
    """The task's `keras.Model` over raw columns.

    Args:
        plan: the preprocessor's column plan.
        backbone: a registered table backbone name, or a `keras.Model` over (numbers, categories).
        outputs: number of classes (a softmax), or 1 for a regression value.
        width, depth, dropout: the backbone's sizes.
        target_scale: (mean, std, log) of a regression target (see `TargetScale`).

    Examples:
        >>> plan = [{"name": "a", "type": "numeric", "mean": 0.0, "std": 1.0}]
        >>> build(plan, "mlp", 3, width=8).output_shape
        (None, 3)
    """
    raw = inputs(plan)
    numbers, categories = TableEncoder(plan, name="encoder")(raw)
    if isinstance(backbone, keras.Model):
        network = keras.models.clone_model(backbone)  # the user's model is copied, never trained in place
        network.name = "backbone"
    else:
        builder = BACKBONES.get(backbone, modality="table")
        network = builder(numeric_width(plan), cardinalities(plan), width=width, depth=depth, dropout=dropout)
    features = network([numbers, categories])
    if outputs == 1:
        value = keras.layers.Dense(1, name="value")(features)
        mean, std, log = target_scale
        return keras.Model(raw, TargetScale(mean, std, log, name="target_scale")(value), name="table_regressor")
    probabilities = keras.layers.Dense(outputs, activation="softmax", name="classes")(features)
    return keras.Model(raw, probabilities, name="table_classifier")


@keras.saving.register_keras_serializable(package="toolkit")
class TargetScale(keras.layers.Layer):
    """Standardised prediction (batch, 1) -> the target in its own units (batch,): z * std + mean, then
    exp(.) - 1 for a log target.

    Examples:
        >>> import numpy as np
        >>> TargetScale(4000.0, 800.0, False)(np.array([[1.0]], "float32")).numpy().tolist()
        [4800.0]
    """

    def __init__(self, mean, std, log=False, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std, self.log = float(mean), float(std), bool(log)

    def call(self, z):
        z = keras.ops.squeeze(z, -1)
        if self.log:
            return keras.ops.expm1(keras.ops.minimum(z * self.std + self.mean, MOST_LOG_Z))
        return z * self.std + self.mean

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std, "log": self.log}


@keras.saving.register_keras_serializable(package="toolkit")
class ScaledLoss(keras.losses.Loss):
    """A regression loss ("mse", "mae", "huber", "log_cosh") on standardised targets and predictions.

    Examples:
        >>> import numpy as np
        >>> loss = ScaledLoss("mae", 4000.0, 800.0)
        >>> float(loss(np.array([4800.0]), np.array([4000.0])))  # one standard deviation off
        1.0
    """

    def __init__(self, loss="mse", mean=0.0, std=1.0, log=False, name="scaled_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss, self.mean, self.std, self.log = loss, float(mean), float(std), bool(log)
        self._base = LOSSES[loss](reduction=None)

    def _standardise(self, y):
        y = keras.ops.cast(keras.ops.reshape(y, (-1, 1)), "float32")
        if self.log:
            y = keras.ops.log1p(keras.ops.maximum(y, 0.0))
        return (y - self.mean) / self.std

    def call(self, y_true, y_pred):
        return self._base(self._standardise(y_true), self._standardise(y_pred))

    def get_config(self):
        return {**super().get_config(), "loss": self.loss, "mean": self.mean, "std": self.std, "log": self.log}


def encoded_form(model, format, plan):
    """The model from the encoder's outputs on (numbers, category indices), for formats without string
    operations (ONNX, LiteRT); the column plan is written beside it, and export.json says how to encode a
    row (the caller's part). The parity check encodes the kept rows with the model's own encoder."""
    import json

    import numpy as np
    import tensorflow as tf

    from toolkit import export as export_lib

    numbers = keras.Input((numeric_width(plan),), name="numbers")
    categories = keras.Input((len(cardinalities(plan)),), dtype="int32", name="categories")
    x = model.get_layer("backbone")([numbers, categories])
    for name in ("classes", "value", "target_scale"):
        if name in [layer.name for layer in model.layers]:
            x = model.get_layer(name)(x)
    encoder = model.get_layer("encoder")

    def inputs(rows):
        encoded = encoder({name: tf.constant(values) for name, values in rows.items()})
        return {"numbers": np.asarray(encoded[0], np.float32), "categories": np.asarray(encoded[1], np.int32)}

    def plan_file(path):
        return path.with_name(path.name + ".columns.json")

    def notes(path):
        plan_file(path).write_text(json.dumps(plan, indent=1))
        return {
            "inputs": {
                "numbers": f"float32 (batch, {numeric_width(plan)})",
                "categories": f"int32 (batch, {len(cardinalities(plan))})",
            },  # fmt: skip
            "columns": str(plan_file(path)),
            "encode": (
                f"the caller's part ({format} carries no string operations): per the columns file, in its order, "
                "a numeric column gives (x - mean) / std (0 when missing, clipped to +-10) and a 0/1 missing flag "
                "where 'indicator' is set; a categorical or boolean column gives its value's position in "
                "'vocabulary' plus 1 (0: unseen) in `categories`; dates and text as tasks/tables/encoding.py; "
                "or export format='savedmodel', which takes the raw rows"
            ),
        }

    return export_lib.Form(
        keras.Model([numbers, categories], x, name=f"{model.name}_from_encoded"),
        inputs=inputs,
        notes=notes,
        files=lambda path: [plan_file(path)],
    )
