"""From-scratch series backbones: (batch, time, channels) -> (batch, time, features), one feature vector
per time step (the task pools over the steps a series has, so padding never counts). The three of Ismail
Fawaz et al.'s review (2019) and InceptionTime (2020), and a recurrent one."""

import keras

from toolkit.backbones import BACKBONES, BATCH_NORM_MOMENTUM


def _conv(x, filters, kernel, activation=True):
    x = keras.layers.Conv1D(filters, kernel, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
    return keras.layers.ReLU()(x) if activation else x


@BACKBONES.register("fcn", modality="series", description="fully convolutional network (Wang et al. 2017)")
def fcn(input_shape, width=128):
    """Three convolution blocks (kernels 8, 5, 3; `width`, 2 x `width`, `width` filters), batch norm, ReLU.

    Examples:
        >>> fcn((None, 2), width=8).output_shape
        (None, None, 8)
    """
    series = keras.Input(input_shape)
    x = _conv(series, width, 8)
    x = _conv(x, 2 * width, 5)
    x = _conv(x, width, 3)
    return keras.Model(series, x, name="backbone")


@BACKBONES.register("resnet1d", modality="series", description="residual 1-D CNN, three blocks (Wang et al. 2017)")
def resnet1d(input_shape, width=64):
    """Three residual blocks of three convolutions (kernels 8, 5, 3) of `width`, 2 x `width`, 2 x `width`.

    Examples:
        >>> resnet1d((None, 1), width=8).output_shape
        (None, None, 16)
    """
    series = keras.Input(input_shape)
    x = series
    for filters in (width, 2 * width, 2 * width):
        y = _conv(_conv(x, filters, 8), filters, 5)
        y = _conv(y, filters, 3, activation=False)
        shortcut = _conv(x, filters, 1, activation=False)
        x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
    return keras.Model(series, x, name="backbone")


def _inception(x, width):
    bottleneck = keras.layers.Conv1D(width, 1, padding="same", use_bias=False)(x) if x.shape[-1] > 1 else x
    branches = [keras.layers.Conv1D(width, k, padding="same", use_bias=False)(bottleneck) for k in (40, 20, 10)]
    pooled = keras.layers.MaxPooling1D(3, strides=1, padding="same")(x)
    branches.append(keras.layers.Conv1D(width, 1, padding="same", use_bias=False)(pooled))
    x = keras.layers.Concatenate()(branches)
    return keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x))


@BACKBONES.register("inceptiontime", modality="series", description="InceptionTime network (Ismail Fawaz et al. 2020)")
def inceptiontime(input_shape, width=32, depth=6):
    """`depth` inception modules (a bottleneck, kernels 40, 20 and 10, a max-pool branch; `width` filters
    each), a residual connection every three. One network of the paper's ensemble of five.

    Examples:
        >>> inceptiontime((None, 1), width=4, depth=3).output_shape
        (None, None, 16)
    """
    series = keras.Input(input_shape)
    x, residual = series, series
    for i in range(depth):
        x = _inception(x, width)
        if i % 3 == 2:
            shortcut = _conv(residual, x.shape[-1], 1, activation=False)
            x = keras.layers.ReLU()(keras.layers.Add()([x, shortcut]))
            residual = x
    return keras.Model(series, x, name="backbone")


@BACKBONES.register("lstm", modality="series", description="one LSTM layer read left to right")
def lstm(input_shape, width=64):
    """An LSTM of `width` units, its output at every step.

    Examples:
        >>> lstm((None, 3), width=8).output_shape
        (None, None, 8)
    """
    series = keras.Input(input_shape)
    return keras.Model(series, keras.layers.LSTM(width, return_sequences=True)(series), name="backbone")
