"""The series classifier: raw series (NaN where missing or past the end) -> standardised per channel ->
backbone -> the mean over the steps each series has -> class probabilities."""

import keras

from tasks.series import backbones as series_backbones  # noqa: F401  (registers the series backbones)
from toolkit.backbones import BACKBONES, copy_model


@keras.saving.register_keras_serializable(package="toolkit")
class SeriesScaling(keras.layers.Layer):
    """(batch, time, channels) with NaN gaps -> (standardised values with gaps as 0, observed steps (batch,
    time, 1)): a step counts as observed when any channel has a value there.

    Examples:
        >>> import numpy as np
        >>> values, observed = SeriesScaling([1.0], [2.0])(np.array([[[3.0], [np.nan]]], "float32"))
        >>> values.numpy().ravel().tolist(), observed.numpy().ravel().tolist()
        ([1.0, 0.0], [1.0, 0.0])
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]

    def call(self, series):
        gone = keras.ops.isnan(series)
        values = keras.ops.where(gone, 0.0, (series - keras.ops.array(self.mean)) / keras.ops.array(self.std))
        observed = keras.ops.any(keras.ops.logical_not(gone), axis=-1, keepdims=True)
        return values, keras.ops.cast(observed, values.dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package="toolkit")
class ObservedMean(keras.layers.Layer):
    """The mean of (batch, time, features) over the observed steps only (padding never counts)."""

    def call(self, features, observed):
        total = keras.ops.sum(features * observed, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(observed, axis=1), 1.0)


def build(backbone, channels, num_classes, mean, std, width=None, dropout=0.0):
    """The task's `keras.Model` over raw series of any length.

    Examples:
        >>> build("fcn", 1, 3, [0.0], [1.0], width=8).output_shape
        (None, 3)
    """
    series = keras.Input((None, channels), name="series")
    values, observed = SeriesScaling(mean, std, name="scaling")(series)
    if isinstance(backbone, keras.Model):
        network = keras.Sequential([copy_model(backbone)], name="backbone")
    else:
        sizes = {} if width is None else {"width": width}
        network = BACKBONES.get(backbone, modality="series")((None, channels), **sizes)
    features = ObservedMean(name="pool")(network(values), observed)
    features = keras.layers.Dropout(dropout)(features)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="classes")(features)
    return keras.Model(series, probabilities, name="series_classifier")


def nearest_neighbour(train, train_labels, parts):
    """1-nearest-neighbour with Euclidean distance on the raw series (gaps as 0): the archives' reference.
    {part name: accuracy} for each (series, labels) part."""
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    def flat(series):
        return np.nan_to_num(np.asarray(series, np.float64)).reshape(len(series), -1)

    model = KNeighborsClassifier(n_neighbors=1).fit(flat(train), train_labels)
    return {name: float(np.mean(model.predict(flat(x)) == np.asarray(y))) for name, (x, y) in parts.items()}
