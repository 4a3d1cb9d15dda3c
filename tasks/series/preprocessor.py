"""What series classification learns from the training part (class names, channels, each channel's mean and
spread) and the tf.data pipeline of (series, class index) batches."""

import numpy as np
import tensorflow as tf

from tasks.series.data import pad
from toolkit import data as data_lib
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Preprocessor


class SeriesPreprocessor(Preprocessor):
    """Learns the classes, the channels and per-channel statistics of the training series (missing values
    and padding left out); batches any part as float32 (cases, length, channels) with NaN where missing.

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> preprocessor = SeriesPreprocessor()
        >>> preprocessor.adapt(Index(pad([[1.0, 3.0], [5.0, 7.0, 9.0]]), ["a", "b"]))
        >>> preprocessor.classes, preprocessor.channels, preprocessor.mean, preprocessor.std
        (['a', 'b'], 1, [5.0], [2.8284271247461903])
    """

    state_attributes = ("classes", "channels", "length", "mean", "std")

    def adapt(self, index):
        self.classes = list(index.classes) if index.classes is not None else sorted(set(index.targets))
        data_lib.require_two_classes(self.encode(index.targets), self.classes)
        series = np.asarray(index.inputs, np.float64)
        self.channels, self.length = int(series.shape[2]), int(series.shape[1])
        self.mean = [float(np.nanmean(series[:, :, c])) for c in range(self.channels)]
        self.std = [float(max(np.nanstd(series[:, :, c]), 1e-6)) for c in range(self.channels)]

    def encode(self, targets):
        return data_lib.encode_labels(list(targets), self.classes)[0]

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        y = np.asarray(self.encode(index.targets), np.int32)
        dataset = tf.data.Dataset.from_tensor_slices((self.check(np.asarray(index.inputs, np.float32)), y))
        return data_lib.cached_batches(dataset, len(y), batch_size, cache=True, shuffle=training, seed=seed)

    def inputs(self, raw):
        """One series ((length,) or (length, channels), an array or a list of numbers) or several (a list, or
        an array (cases, length[, channels])) -> (cases, length, channels) float32.

        Examples:
            >>> p = SeriesPreprocessor.from_saved({"config": {}, "state": {"channels": 1}})
            >>> p.inputs([0.5, None, 0.1]).shape, p.inputs([[0.5, 0.2], [0.1]]).shape
            ((1, 3, 1), (2, 2, 1))
        """
        if isinstance(raw, np.ndarray) and raw.dtype != object:
            one = raw.ndim == 1 or (raw.ndim == 2 and self.channels > 1 and raw.shape[1] == self.channels)
        else:
            one = isinstance(raw, (list, tuple)) and all(v is None or np.isscalar(v) for v in raw)
        return self.check(pad([raw] if one else raw))

    def check(self, series):
        infinite = np.flatnonzero(np.isinf(series).any(axis=(1, 2)))
        if len(infinite):
            raise ToolkitError(
                f"{len(infinite)} series hold an infinite value (the first: series {int(infinite[0])}).",
                expected="finite numbers, or NaN / ? for a missing value",
                fix="replace the infinite values (NaN marks one as missing)",
            )
        if series.shape[2] != self.channels:
            raise ToolkitError(
                f"Series of {series.shape[2]} channel(s).",
                expected=f"{self.channels} channel(s), as in training",
                fix="pass series with the training data's channels",
            )
        return series
