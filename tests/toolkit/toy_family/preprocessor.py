"""What the toy family learns from the training part: class names and each column's mean and spread."""

import numpy as np
import tensorflow as tf

from toolkit.preprocessing import Preprocessor


class TablePreprocessor(Preprocessor):
    """Standardises each column with statistics of the training part and encodes labels as class indices."""

    state_attributes = ("classes", "mean", "scale")

    def adapt(self, index):
        self.classes = sorted(set(index.targets))
        rows = np.asarray(index.inputs, dtype="float64")
        self.mean = rows.mean(axis=0).tolist()
        self.scale = np.maximum(rows.std(axis=0), 1e-6).tolist()

    def inputs(self, raw):
        return ((np.asarray(raw, dtype="float32") - self.mean) / self.scale).astype("float32")

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        labels = np.array([self.classes.index(label) for label in index.targets], dtype="int32")
        dataset = tf.data.Dataset.from_tensor_slices((self.inputs(index.inputs), labels))
        if training:
            dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
