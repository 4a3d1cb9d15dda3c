"""The toy family's model: a small fully connected network over standardised columns."""

import keras


def build(num_features, num_classes, width=32):
    """A `keras.Model` from `num_features` numbers to `num_classes` probabilities."""
    inputs = keras.Input((num_features,), name="features")
    hidden = keras.layers.Dense(width, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(hidden)
    return keras.Model(inputs, outputs, name="table_classifier")
