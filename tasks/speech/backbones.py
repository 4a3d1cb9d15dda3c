"""Speech backbones over log-mel features (frames, mel bins).

Classification also takes the image CNNs ("lenet", "vgg", "resnet",
"mobilenet"), run on the log-mel spectrogram as a one-channel image.
"""

import keras

from toolkit.backbones import BACKBONES, BATCH_NORM_MOMENTUM


def _recurrent(layer_class, input_shape, width, bidirectional, return_sequences, num_layers=2):
    inputs = keras.Input(input_shape)
    x = inputs
    for i in range(num_layers):
        last = i == num_layers - 1
        layer = layer_class(width, return_sequences=return_sequences or not last)
        x = keras.layers.Bidirectional(layer)(x) if bidirectional else layer(x)
    return keras.Model(inputs, x, name="backbone")


@BACKBONES.register("mel_gru", modality="audio", description="two bidirectional GRU layers over log-mel frames")
def mel_gru(input_shape, width=64):
    """Two bidirectional GRU layers of `width` units a direction; the last returns one vector.

    Examples:
        >>> mel_gru((100, 40), width=8).output_shape
        (None, 16)
    """
    return _recurrent(keras.layers.GRU, input_shape, width, bidirectional=True, return_sequences=False)


@BACKBONES.register("mel_lstm", modality="audio", description="two bidirectional LSTM layers over log-mel frames")
def mel_lstm(input_shape, width=64):
    """Two bidirectional LSTM layers of `width` units a direction; the last returns one vector.

    Examples:
        >>> mel_lstm((100, 40), width=8).output_shape
        (None, 16)
    """
    return _recurrent(keras.layers.LSTM, input_shape, width, bidirectional=True, return_sequences=False)


def ctc_encoder(input_shape, width=128, cell="gru", num_layers=3, time_stride=4):
    """A strided 1-D conv over log-mel frames, then bidirectional RNN layers: an encoder for CTC.

    The conv cuts the frame rate by `time_stride` (10 ms frames -> 40 ms
    steps), which leaves several steps per spoken character and makes the
    recurrent layers' sequences short. Measured on 500 FSDD digit strings, 10-12
    epochs: DeepSpeech2's two wide 2-D convs at stride 2 stayed in CTC's
    all-blank phase (CER 0.67-0.92, 145-213 s); this reached CER 0.043 in 38 s,
    each step about a tenth the cost (stride 2 instead of 4: CER 0.164).

    Returns:
        A model named "backbone": (frames, bins) -> (ceil(frames / time_stride), 2 * width).

    Examples:
        >>> ctc_encoder((100, 40), width=8).output_shape
        (None, 25, 16)
    """
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv1D(2 * width, 5, strides=time_stride, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
    x = keras.layers.ReLU()(x)
    layer_class = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
    for _ in range(num_layers):
        x = keras.layers.Bidirectional(layer_class(width, return_sequences=True))(x)
    return keras.Model(inputs, x, name="backbone")


@BACKBONES.register(
    "ctc_gru", modality="speech-recognition", description="strided conv + bidirectional GRU layers (CTC)"
)
def ctc_gru(input_shape, width=128, num_layers=3):
    """`ctc_encoder` with GRU cells: the speech recognizer's default.

    Examples:
        >>> ctc_gru((100, 40), width=8, num_layers=1).output_shape
        (None, 25, 16)
    """
    return ctc_encoder(input_shape, width, "gru", num_layers)


@BACKBONES.register(
    "ctc_lstm", modality="speech-recognition", description="strided conv + bidirectional LSTM layers (CTC)"
)
def ctc_lstm(input_shape, width=128, num_layers=3):
    """`ctc_encoder` with LSTM cells.

    Examples:
        >>> ctc_lstm((100, 40), width=8, num_layers=1).output_shape
        (None, 25, 16)
    """
    return ctc_encoder(input_shape, width, "lstm", num_layers)
