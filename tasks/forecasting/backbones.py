"""Forecasting backbones: a window (batch, lookback, channels), already scaled, -> one feature vector
(batch, features); the task's linear head maps it to every horizon step, target and quantile at once
(direct multi-step forecasting)."""

import keras

from toolkit.backbones import BACKBONES


@keras.saving.register_keras_serializable(package="toolkit")
class MovingAverage(keras.layers.Layer):
    """The trend of each channel: a centred moving average over `kernel` steps, the ends repeated (DLinear's
    series decomposition)."""

    def __init__(self, kernel, **kwargs):
        super().__init__(**kwargs)
        self.kernel = int(kernel)

    def call(self, x):
        side = self.kernel // 2
        ops = keras.ops
        padded = ops.concatenate([ops.repeat(x[:, :1], side, axis=1), x, ops.repeat(x[:, -1:], side, axis=1)], 1)
        return ops.average_pool(padded, self.kernel, strides=1, padding="valid")

    def get_config(self):
        return {**super().get_config(), "kernel": self.kernel}


@BACKBONES.register("dlinear", modality="forecast", description="trend + seasonal linear model (Zeng et al. 2023)")
def dlinear(input_shape, width=None, kernel=None):
    """The window split into a moving-average trend (`kernel` steps, default about half the lookback, odd,
    at most 25) and the rest (the seasonal part), both passed on flat: with the task's linear head this is
    DLinear, a linear map of each part to the horizon. `width` is unused (DLinear has no hidden layer).

    Examples:
        >>> dlinear((24, 1)).output_shape
        (None, 48)
    """
    lookback = input_shape[0]
    kernel = kernel or min(25, max(3, (lookback // 2) | 1))
    window = keras.Input(input_shape)
    trend = MovingAverage(kernel)(window)
    seasonal = keras.layers.Subtract()([window, trend])
    flat = keras.layers.Concatenate()([keras.layers.Flatten()(trend), keras.layers.Flatten()(seasonal)])
    return keras.Model(window, flat, name="backbone")


@BACKBONES.register("nbeats", modality="forecast", description="N-BEATS generic stacks (Oreshkin et al. 2020)")
def nbeats(input_shape, width=128, blocks=3, layers=2):
    """N-BEATS' generic architecture: `blocks` blocks of `layers` ReLU layers of `width`; each removes its
    backcast from the window the next one reads and passes on its forecast features (concatenated, so the
    task's linear head sums one linear forecast per block, as the paper's blocks do).

    Examples:
        >>> nbeats((12, 2), width=8, blocks=2).output_shape
        (None, 16)
    """
    window = keras.Input(input_shape)
    residual = keras.layers.Flatten()(window)
    forecasts = []
    for _ in range(blocks):
        x = residual
        for _ in range(layers):
            x = keras.layers.Dense(width, activation="relu")(x)
        residual = keras.layers.Subtract()([residual, keras.layers.Dense(residual.shape[-1])(x)])
        forecasts.append(keras.layers.Dense(width)(x))
    return keras.Model(window, keras.layers.Concatenate()(forecasts), name="backbone")


@BACKBONES.register("lstm", modality="forecast", description="an LSTM read over the window, its last state")
def lstm(input_shape, width=64):
    """An LSTM of `width` units; its state after the window's last step (unrolled over the window's fixed
    steps: no loop ops, so LiteRT runs it without TensorFlow's select ops).

    Examples:
        >>> lstm((12, 1), width=8).output_shape
        (None, 8)
    """
    window = keras.Input(input_shape)
    return keras.Model(window, keras.layers.LSTM(width, unroll=True)(window), name="backbone")


@BACKBONES.register("gru", modality="forecast", description="a GRU read over the window, its last state")
def gru(input_shape, width=64):
    """A GRU of `width` units; its state after the window's last step (unrolled, as `lstm`).

    Examples:
        >>> gru((12, 1), width=8).output_shape
        (None, 8)
    """
    window = keras.Input(input_shape)
    return keras.Model(window, keras.layers.GRU(width, unroll=True)(window), name="backbone")


@BACKBONES.register("tcn", modality="forecast", description="temporal convolutional network (Bai et al. 2018)")
def tcn(input_shape, width=32, kernel=3, dilations=(1, 2, 4, 8)):
    """Residual blocks of two causal convolutions (dilations 1, 2, 4, 8: a receptive field of 61 steps with
    kernel 3), `width` filters; the features at the window's last step.

    Examples:
        >>> tcn((16, 1), width=8).output_shape
        (None, 8)
    """
    window = keras.Input(input_shape)
    x = keras.layers.Conv1D(width, 1)(window)
    for dilation in dilations:
        y = keras.layers.Conv1D(width, kernel, padding="causal", dilation_rate=dilation, activation="relu")(x)
        y = keras.layers.Conv1D(width, kernel, padding="causal", dilation_rate=dilation, activation="relu")(y)
        x = keras.layers.Add()([x, y])
    last = keras.layers.Cropping1D((input_shape[0] - 1, 0))(x)
    return keras.Model(window, keras.layers.Flatten()(last), name="backbone")


@BACKBONES.register("transformer", modality="forecast", description="a Transformer encoder over the window's steps")
def transformer(input_shape, width=32, depth=2, heads=2):
    """Each step projected to `width` with a learned position embedding, `depth` KerasHub Transformer encoder
    blocks, then the mean over the steps beside the last step's features.

    Examples:
        >>> transformer((12, 1), width=8, depth=1).output_shape
        (None, 16)
    """
    import keras_hub

    window = keras.Input(input_shape)
    x = keras.layers.Dense(width)(window)
    x = keras.layers.Add()([x, keras_hub.layers.PositionEmbedding(input_shape[0])(x)])
    for _ in range(depth):
        x = keras_hub.layers.TransformerEncoder(2 * width, heads, dropout=0.1, normalize_first=True)(x)
    last = keras.layers.Flatten()(keras.layers.Cropping1D((input_shape[0] - 1, 0))(x))
    return keras.Model(window, keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(x), last]),
                       name="backbone")  # fmt: skip
