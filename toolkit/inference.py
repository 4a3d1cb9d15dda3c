"""The one inference path: `model(x, training=False)` traced once per model and fed in batches.

Keras' `Model.predict` builds a new tf.data pipeline and iterator on every call, which was 86% of a
served one-image request (53 ms against 2.1 ms for the bare traced call, 2026-12-06). Here a model
is traced once (`tf.function`; `reduce_retracing` relaxes the batch dimension after a second size,
so a server's varying batch sizes share one graph), arrays in memory go through it in slices of the
batch size, and a `tf.data.Dataset` (files decoded in parallel ahead of the model) batch by batch,
its targets collected in the same pass.

Examples:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> inference = Inference(model)
    >>> x = np.ones((5, 3), "float32")
    >>> bool(np.allclose(inference.predict(x, batch_size=2), model.predict(x, verbose=0), atol=1e-6))
    True
"""

import inspect
import sys

import keras
import numpy as np
import tensorflow as tf


class Inference:
    """A model's traced call: `inference(x)` -> tensors; `predict(x)` and `over(dataset)` -> NumPy."""

    def __init__(self, model):
        self.model = model
        self.traced = tf.function(self._call, reduce_retracing=True)
        self.kinds = set()  # (shape past the batch axis, dtype) of each input structure traced
        self.traces = 0  # graphs traced so far

    def _call(self, x):
        self.traces += 1  # Python runs here only while tracing
        # A KerasHub task model (a preset text classifier) preprocesses inside `predict` only; called
        # directly it must be handed its preprocessor's output, as its own `predict` does.
        preprocessor = getattr(self.model, "preprocessor", None)
        if preprocessor is not None and _is_pipeline(self.model):
            x = preprocessor(x)
        return self.model(x, training=False)

    def function(self, x):
        """The traced call. A new kind of input is traced once for any batch size (the batch axis left
        open), so a server's first batch of three after batches of one does not trace again; an axis
        the model declares open (a waveform's or a text's length) is left open too, so recordings of
        every length share one graph instead of one trace each."""
        x = _tensors(x)
        specs = self._specs(x)
        kind = tuple((tuple(s.shape[1:]), s.dtype) for s in tf.nest.flatten(specs))
        if kind not in self.kinds:
            self.kinds.add(kind)
            self.traced.get_concrete_function(specs)
        return self.traced(x)

    def _specs(self, x):
        flat = tf.nest.flatten(x)
        try:  # a functional model's declared inputs, in the same order as the inputs given
            declared = [tuple(t.shape) for t in tf.nest.flatten(self.model.input)]
        except (AttributeError, ValueError, TypeError):
            declared = []
        if len(declared) != len(flat):
            declared = [None] * len(flat)
        specs = []
        for t, shape in zip(flat, declared):
            open_axes = shape is not None and len(shape) == len(t.shape)
            dims = [None if open_axes and shape[i] is None else t.shape[i] for i in range(1, len(t.shape))]
            specs.append(tf.TensorSpec([None, *dims], t.dtype))
        return tf.nest.pack_sequence_as(x, specs)

    def __call__(self, x):
        """The model's outputs (tensors) for one batch."""
        return self.function(x)

    def predict(self, x, batch_size=32):
        """Outputs (NumPy, the model's structure) for inputs in memory: an array, a list / dict of arrays
        (the model's inputs), or a `tf.data.Dataset` / generator of batches (of inputs, or of (inputs, targets))."""
        if isinstance(x, tf.data.Dataset) or inspect.isgenerator(x):
            return self.over(x)[0]
        count = len(tf.nest.flatten(x)[0])
        if count <= batch_size:
            return _numpy(self.function(x))
        pieces = []
        for start in range(0, count, batch_size):
            part = slice(start, start + batch_size)
            pieces.append(_numpy(self.function(tf.nest.map_structure(lambda a, part=part: a[part], x))))
        return _concatenate(pieces)

    def over(self, dataset):
        """(outputs, targets) of a batched dataset of (inputs, targets) or of inputs alone (targets None),
        read once: evaluation decodes each file one time."""
        outputs, targets = [], []
        for batch in dataset:
            if isinstance(batch, tuple) and len(batch) >= 2:
                x, y = batch[0], batch[1]
                targets.append(_numpy(y))
            else:
                x = batch
            outputs.append(_numpy(self.function(x)))
        if not outputs:
            return np.zeros((0,)), None
        return _concatenate(outputs), (_concatenate(targets) if targets else None)


def _is_pipeline(model):
    if "keras_hub" not in sys.modules:  # no KerasHub model exists, and importing it costs a cold start
        return False
    from keras_hub.src.utils.pipeline_model import PipelineModel

    return isinstance(model, PipelineModel)


def _tensors(x):
    return tf.nest.map_structure(tf.convert_to_tensor, x)


def _numpy(outputs):
    return tf.nest.map_structure(keras.ops.convert_to_numpy, outputs)


def _concatenate(pieces):
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts, axis=0), *pieces)
