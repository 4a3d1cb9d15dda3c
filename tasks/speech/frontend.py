"""The audio front end as Keras layers, so a saved speech model takes raw waveforms.

waveform -> [time shift, added noise: training only] -> log-mel spectrogram
(`keras.layers.MelSpectrogram`) -> per-mel-bin normalisation
(`keras.layers.Normalization`, adapted on the training set) -> [SpecAugment
time and frequency masks: training only] -> (frames, mel bins) features.
"""

import keras
import numpy as np
import tensorflow as tf

from toolkit import data as data_lib
from toolkit.errors import ToolkitError

AUGMENTATIONS = ("shift", "noise", "specaugment")


@keras.saving.register_keras_serializable(package="toolkit")
class RandomTimeShift(keras.layers.Layer):
    """Rolls each waveform by up to `max_fraction` of its length, in training only.

    Keras has no waveform shift layer; `keras.ops.roll` takes one shift per
    call, so each example is rolled with a gather on shifted indices.

    Examples:
        >>> import numpy as np
        >>> layer = RandomTimeShift(0.5, seed=0)
        >>> x = np.arange(8, dtype="float32")[None]
        >>> bool((layer(x).numpy() == x).all()), sorted(layer(x, training=True).numpy()[0].tolist()) == list(range(8))
        (True, True)
    """

    def __init__(self, max_fraction=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.max_fraction = max_fraction
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, waveforms, training=False):
        if not training:
            return waveforms
        length = keras.ops.shape(waveforms)[1]
        limit = keras.ops.cast(keras.ops.cast(length, "float32") * self.max_fraction, "int32") + 1
        shifts = keras.random.randint((keras.ops.shape(waveforms)[0], 1), -limit, limit, seed=self.generator)
        positions = (keras.ops.arange(length)[None, :] - shifts) % length
        return keras.ops.take_along_axis(waveforms, positions, axis=1)

    def get_config(self):
        return {**super().get_config(), "max_fraction": self.max_fraction, "seed": self.seed}


@keras.saving.register_keras_serializable(package="toolkit")
class RandomNoise(keras.layers.Layer):
    """Adds white noise at a random signal-to-noise ratio per recording, in training only.

    `keras.layers.GaussianNoise` adds one fixed level to every input, which
    drowns quiet recordings and leaves loud ones untouched; here the level
    follows each waveform's own RMS.

    Examples:
        >>> import numpy as np
        >>> x = np.sin(np.arange(800, dtype="float32"))[None]
        >>> noisy = RandomNoise(snr_db=(20, 20), seed=0)(x, training=True).numpy()
        >>> round(float(10 * np.log10((x**2).mean() / ((noisy - x) ** 2).mean())))
        20
    """

    def __init__(self, snr_db=(15.0, 40.0), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.snr_db = tuple(snr_db)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, waveforms, training=False):
        if not training:
            return waveforms
        batch = keras.ops.shape(waveforms)[0]
        rms = keras.ops.sqrt(keras.ops.mean(keras.ops.square(waveforms), axis=1, keepdims=True) + 1e-10)
        snr = keras.random.uniform((batch, 1), self.snr_db[0], self.snr_db[1], seed=self.generator)
        noise = keras.random.normal(keras.ops.shape(waveforms), seed=self.generator)
        return waveforms + noise * rms * keras.ops.power(10.0, -snr / 20.0)

    def get_config(self):
        return {**super().get_config(), "snr_db": list(self.snr_db), "seed": self.seed}


@keras.saving.register_keras_serializable(package="toolkit")
class SpecAugment(keras.layers.Layer):
    """SpecAugment's time and frequency masks (Park et al. 2019) on (batch, frames, bins), training only.

    Each example gets `num_masks` time masks of up to `max_time` frames and
    as many frequency masks of up to `max_freq` bins, set to zero (the
    normalised mean). Written by hand: Keras and KerasHub have no such layer.

    Examples:
        >>> import numpy as np
        >>> x = np.ones((2, 50, 20), "float32")
        >>> masked = SpecAugment(max_time=10, max_freq=5, seed=0)(x, training=True).numpy()
        >>> bool((masked == 0).any()), bool((SpecAugment()(x).numpy() == 1).all())
        (True, True)
    """

    def __init__(self, max_time=10, max_freq=8, num_masks=2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.max_time = max_time
        self.max_freq = max_freq
        self.num_masks = num_masks
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def _masks(self, batch, size, max_width):
        keep = keras.ops.ones((batch, size))
        positions = keras.ops.arange(size)[None, :]
        for _ in range(self.num_masks):
            width = keras.random.randint((batch, 1), 0, max_width + 1, seed=self.generator)
            room = keras.ops.cast(keras.ops.maximum(size - width + 1, 1), "float32")
            start = keras.ops.cast(keras.random.uniform((batch, 1), seed=self.generator) * room, "int32")
            inside = keras.ops.logical_and(positions >= start, positions < start + width)
            keep = keep * (1.0 - keras.ops.cast(inside, keep.dtype))
        return keep

    def call(self, features, training=False):
        if not training:
            return features
        batch, frames, bins = keras.ops.shape(features)[0], keras.ops.shape(features)[1], keras.ops.shape(features)[2]
        time_keep = self._masks(batch, frames, self.max_time)[:, :, None]
        freq_keep = self._masks(batch, bins, self.max_freq)[:, None, :]
        return features * keras.ops.cast(time_keep * freq_keep, features.dtype)

    def get_config(self):
        config = {"max_time": self.max_time, "max_freq": self.max_freq, "num_masks": self.num_masks, "seed": self.seed}
        return {**super().get_config(), **config}


def check(names):
    """Raises a clear error for an unknown augmentation name.

    Examples:
        >>> check(("noise", "specaugment"))
    """
    for name in names or ():
        if name not in AUGMENTATIONS:
            raise ToolkitError(
                f"Unknown augmentation {name!r}.", expected=f"names from {AUGMENTATIONS}", fix="fix the augment= list"
            )


class DftMelSpectrogram(keras.layers.MelSpectrogram):
    """`keras.layers.MelSpectrogram` with its short-time Fourier transform written as a strided
    convolution over a windowed DFT basis: the same numbers (to float rounding, about 1e-5 dB), in
    operations every exporter carries.

    Only exports use it (`portable`). Why by hand: Keras' layer takes an RFFT and squares its real
    and imaginary parts; tf2onnx converts an RFFT only when a complex absolute value consumes it,
    and that op (ComplexAbs) is not in onnxruntime, so no ONNX graph of the Keras layer runs.
    A convolution costs more than an FFT, which is why training keeps Keras' layer.

    Examples:
        >>> settings = mel_settings(8000)
        >>> waves = np.random.default_rng(0).normal(size=(2, 8000)).astype("float32")
        >>> fft, dft = keras.layers.MelSpectrogram(**settings)(waves), DftMelSpectrogram(**settings)(waves)
        >>> bool(np.abs(np.asarray(fft) - np.asarray(dft)).max() < 1e-3)
        True
    """

    def _spectrogram(self, inputs):
        n, length = self.fft_length, self.sequence_length
        window = np.zeros(n)  # Keras' window: periodic Hann or Hamming of sequence_length, centred in fft_length
        k = np.arange(length)
        shapes = {
            "hann": 0.5 - 0.5 * np.cos(2 * np.pi * k / length),
            "hamming": 0.54 - 0.46 * np.cos(2 * np.pi * k / length),
        }
        start = (n - length) // 2
        window[start : start + length] = 1.0 if self.window is None else shapes[self.window]
        t, f = np.arange(n)[:, None], np.arange(n // 2 + 1)[None, :]
        basis = np.concatenate([np.cos(2 * np.pi * t * f / n), -np.sin(2 * np.pi * t * f / n)], axis=1)
        kernel = keras.ops.convert_to_tensor((basis * window[:, None])[:, None, :], inputs.dtype)
        x = keras.ops.pad(inputs, [(0, 0), (n // 2, n // 2)], mode="reflect")  # Keras' center=True
        parts = keras.ops.conv(x[..., None], kernel, strides=self.sequence_stride, padding="valid")
        real, imag = parts[..., : n // 2 + 1], parts[..., n // 2 + 1 :]
        return keras.ops.power(keras.ops.sqrt(real * real + imag * imag), self.mag_exp)


def portable(model):
    """`model` with each MelSpectrogram layer swapped for `DftMelSpectrogram` (every other layer, and
    so every weight, shared): the form of a speech model that ONNX carries."""

    def swap(layer):
        if isinstance(layer, keras.layers.MelSpectrogram):
            return DftMelSpectrogram.from_config(layer.get_config())
        return layer

    return keras.models.clone_model(model, clone_function=swap)


def mel_settings(sample_rate, num_mel_bins=40):
    """MelSpectrogram arguments for a sample rate: 32 ms windows (a power of two), 10 ms hops.

    Examples:
        >>> mel_settings(8000)
        {'fft_length': 256, 'sequence_stride': 80, 'sampling_rate': 8000, 'num_mel_bins': 40, 'max_freq': 4000.0}
    """
    fft_length = 1 << max(6, round(sample_rate * 0.032 - 1).bit_length())
    return {
        "fft_length": fft_length,
        "sequence_stride": sample_rate // 100,
        "sampling_rate": sample_rate,
        "num_mel_bins": num_mel_bins,
        "max_freq": sample_rate / 2,
    }


def log_mel(waveforms, sample_rate, num_mel_bins=40):
    """Waveforms (batch, samples) -> log-mel features (batch, frames, bins), as a layer call.

    Examples:
        >>> import numpy as np
        >>> log_mel(np.zeros((2, 8000), "float32"), 8000).shape
        TensorShape([2, 101, 40])
    """
    spectrogram = keras.layers.MelSpectrogram(**mel_settings(sample_rate, num_mel_bins), name="log_mel")(waveforms)
    return keras.layers.Permute((2, 1), name="frames_first")(spectrogram)


def adapted_normalizer(waveforms, sample_rate, num_mel_bins=40, most=None):
    """A `keras.layers.Normalization` holding the per-bin mean and variance of the waveforms' log-mel features.

    Args:
        waveforms: a (count, samples) array, or a list of 1-D waveforms of any lengths.
        most: adapt on at most about this many evenly spaced waveforms (default: all).

    Examples:
        >>> import numpy as np
        >>> waves = [np.random.default_rng(0).normal(size=n).astype("float32") for n in (4000, 8000)]
        >>> tuple(adapted_normalizer(waves, 8000).mean.shape)
        (1, 1, 40)
    """
    if most:
        waveforms = waveforms[:: max(1, len(waveforms) // most)]
    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 2:
        waves = tf.data.Dataset.from_tensor_slices(waveforms.astype("float32")).batch(128)
    else:  # different lengths: one at a time
        waves = tf.data.Dataset.from_generator(
            lambda: (np.asarray(w, "float32")[None] for w in waveforms),
            output_signature=tf.TensorSpec((1, None), tf.float32),
        )
    normalizer = keras.layers.Normalization(axis=-1, name="normalize")
    normalizer.adapt(waves.map(lambda w: log_mel(w, sample_rate, num_mel_bins)))
    return normalizer


def front_end(waveforms, sample_rate, normalizer, augment=(), seed=None, num_mel_bins=40):
    """The shared front end on a waveform tensor; `normalizer` is an adapted `keras.layers.Normalization`.

    Examples:
        >>> import numpy as np
        >>> norm = keras.layers.Normalization(axis=-1)
        >>> norm.adapt(log_mel(np.random.default_rng(0).normal(size=(4, 8000)).astype("float32"), 8000))
        >>> inputs = keras.Input((8000,))
        >>> front_end(inputs, 8000, norm, augment=("noise", "specaugment")).shape
        (None, 101, 40)
    """
    check(augment)
    # One seed per layer, derived from the run seed: layers sharing a seed would draw the same numbers.
    seed_of = lambda name: None if seed is None else data_lib.derived_seed(seed, f"augment/{name}")  # noqa: E731
    x = waveforms
    if "shift" in augment:
        x = RandomTimeShift(0.1, seed=seed_of("shift"), name="time_shift")(x)
    if "noise" in augment:
        x = RandomNoise(seed=seed_of("noise"), name="added_noise")(x)
    x = log_mel(x, sample_rate, num_mel_bins)
    x = normalizer(x)
    if "specaugment" in augment:
        x = SpecAugment(seed=seed_of("specaugment"), name="spec_augment")(x)
    return x
