"""The preprocessing inside a table model: raw column values -> (numbers, category indices).

Why not Keras' `FeatureSpace`: it has no missing-value imputation with an indicator (its
`Normalization` adapted on a column with NaN learns a NaN mean), no dates, and it returns one
concatenated vector, while FT-Transformer needs the category indices apart to embed them. So this
layer is built from the same Keras preprocessing layers FeatureSpace uses (`StringLookup` with an
out-of-vocabulary bucket, `TextVectorization`), with what was learned on the training part in its
config (the column plan), and it saves and loads with the model: the saved model takes raw rows.

Outputs: `numbers` (batch, `numeric_width(plan)`): standardised numbers (a missing one is the mean,
0, plus a 0/1 missing indicator where training had gaps), date parts and text word indicators;
`categories` (batch, number of categorical columns): each value's index, 0 for one never seen.
"""

import math

import keras
import tensorflow as tf

from tasks.tables.columns import input_name

# Standardised numbers are clipped here: one wild value at prediction time must not swamp the network.
CLIP = 10.0


def numeric_width(plan):
    """How many numbers the encoder gives for a column plan.

    Examples:
        >>> numeric_width([{"type": "numeric", "indicator": True}, {"type": "date", "time": False}])
        9
    """
    width = 0
    for column in plan:
        if column["type"] == "numeric":
            width += 2 if column.get("indicator") else 1
        elif column["type"] == "date":
            width += 7 + (2 if column.get("time") else 0)  # year, month (2), weekday (2), day, missing; hour (2)
        elif column["type"] == "text":
            width += len(column["vocabulary"]) + 1  # TextVectorization's multi-hot has an OOV slot
    return width


def cardinalities(plan):
    """Distinct indices of each categorical column (its vocabulary and the unseen bucket, index 0)."""
    return [len(column["vocabulary"]) + 1 for column in plan if column["type"] in ("categorical", "boolean")]


@keras.saving.register_keras_serializable(package="toolkit")
class TableEncoder(keras.layers.Layer):
    """Raw column values (a dict of tensors) -> (numbers, category indices) by a learned column plan.

    Examples:
        >>> plan = [{"name": "mass", "type": "numeric", "mean": 4000.0, "std": 800.0, "indicator": True},
        ...         {"name": "island", "type": "categorical", "vocabulary": ["Biscoe", "Dream"]}]
        >>> numbers, categories = TableEncoder(plan)({"mass": tf.constant([4800.0, float("nan")]),
        ...                                           "island": tf.constant(["Dream", "Torgersen"])})
        >>> numbers.numpy().tolist(), categories.numpy().tolist()
        ([[1.0, 0.0], [0.0, 1.0]], [[2], [0]])
    """

    def __init__(self, plan, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.plan = [dict(column) for column in plan]
        self.lookups = {}
        self.vectorizers = {}
        for column in self.plan:
            if column["type"] in ("categorical", "boolean"):
                self.lookups[input_name(column)] = keras.layers.StringLookup(
                    vocabulary=list(column["vocabulary"]) or ["<none>"], num_oov_indices=1, mask_token=None
                )
            elif column["type"] == "text":
                self.vectorizers[input_name(column)] = keras.layers.TextVectorization(
                    vocabulary=list(column["vocabulary"]) or ["<none>"], output_mode="multi_hot"
                )

    def build(self, input_shape):
        # The lookups hold their vocabularies from construction: nothing to size from the inputs.
        self.built = True

    def call(self, inputs):
        numbers, categories = [], []
        batch = tf.shape(tf.nest.flatten(inputs)[0])[0]
        for column in self.plan:
            value = inputs[input_name(column)]
            kind = column["type"]
            if kind == "numeric":
                x = tf.cast(value, "float32")
                gone = tf.math.is_nan(x)
                z = tf.clip_by_value((x - column["mean"]) / column["std"], -CLIP, CLIP)
                numbers.append(tf.where(gone, 0.0, z)[:, None])
                if column.get("indicator"):
                    numbers.append(tf.cast(gone, "float32")[:, None])
            elif kind in ("categorical", "boolean"):
                categories.append(tf.cast(self.lookups[input_name(column)](value), "int32"))
            elif kind == "date":
                numbers.append(_date(value, column))
            elif kind == "text":
                numbers.append(tf.cast(self.vectorizers[input_name(column)](value), "float32"))
        numbers = tf.concat(numbers, axis=1) if numbers else tf.zeros([batch, 0])
        categories = tf.stack(categories, axis=1) if categories else tf.zeros([batch, 0], "int32")
        return numbers, categories

    def compute_output_spec(self, inputs):
        batch = tf.nest.flatten(inputs)[0].shape[0]
        return (
            keras.KerasTensor((batch, numeric_width(self.plan)), "float32"),
            keras.KerasTensor((batch, len(cardinalities(self.plan))), "int32"),
        )

    def get_config(self):
        return {**super().get_config(), "plan": self.plan}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        return cls(**config)


def _date(value, column):
    """ISO text "YYYY-MM-DDTHH:MM:SS" ("" when missing) -> year (standardised), month and weekday as points
    on a circle, day of month, hour on a circle when the column has times, and a missing indicator."""
    gone = tf.equal(tf.strings.length(value), 0)
    text = tf.where(gone, "1970-01-01T00:00:00", value)

    def part(start, length):
        return tf.strings.to_number(tf.strings.substr(text, start, length), "float32")

    year, month, day = part(0, 4), part(5, 2), part(8, 2)
    year_z = tf.where(gone, 0.0, (year - column["year_mean"]) / column["year_std"])
    features = [year_z, *_circle(month - 1, 12), *_circle(_weekday(year, month, day), 7), day / 31.0]
    if column.get("time"):
        features += _circle(part(11, 2), 24)
    features = [tf.where(gone, 0.0, f) for f in features[1:]]
    return tf.stack([year_z, *features, tf.cast(gone, "float32")], axis=1)


def _circle(value, period):
    angle = 2 * math.pi * value / period
    return [tf.sin(angle), tf.cos(angle)]


def _weekday(year, month, day):
    """Day of the week (0 = Monday) by Sakamoto's method, in tensor arithmetic (no date type in the graph)."""
    offsets = tf.constant([0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4], "float32")
    y = year - tf.cast(month < 3, "float32")
    m = tf.gather(offsets, tf.cast(month, "int32") - 1)
    sunday_first = tf.math.floormod(y + tf.floor(y / 4) - tf.floor(y / 100) + tf.floor(y / 400) + m + day, 7)
    return tf.math.floormod(sunday_first - 1, 7)
