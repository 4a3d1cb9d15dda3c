"""What the speech tasks learn from the training recordings (the sample rate; the classifier's classes and
duration; the recogniser's characters) and their tf.data pipelines of decoded, resampled waveforms."""

import os

import numpy as np
import tensorflow as tf

from tasks.speech import audio as audio_lib
from toolkit import data as data_lib
from toolkit import image_streams
from toolkit.preprocessing import Preprocessor

# Recordings the front end's normalisation statistics are learned from (evenly spaced over the training part).
NORMALIZER_SAMPLE = 1000


class Recordings:
    """Recordings as read (WAV paths, waveforms or a stream) with their own rate (None: each file's header).

    A part keeps the whole source (`source`): the sample rate is a property of the files, chosen by
    one rule over the whole source, so every split of the same files (and both speech tasks) gets
    the same rate.

    Examples:
        >>> part = Recordings([np.zeros(8), np.ones(8), np.zeros(4)], 8000).part([2, 0])
        >>> len(part), part.rate, len(part.source)
        (2, 8000, 3)
    """

    def __init__(self, audio, rate, source=None):
        self.audio, self.rate = audio, rate
        self.source = audio if source is None else source

    def __len__(self):
        return len(self.audio)

    def part(self, positions):
        return Recordings(data_lib.take(self.audio, positions), self.rate, self.source)


class SpeechPreprocessor(Preprocessor):
    """What both speech tasks share: the sample rate (as asked, else the training recordings'), and the
    files their datasets read (to name an unreadable one)."""

    def __init__(self, *, sample_rate=None, asked="as asked (sample_rate=)", **config):
        super().__init__(sample_rate=sample_rate, asked=asked, **config)
        self.files = []

    def choose_rate(self, recordings):
        self.sample_rate = audio_lib.choose_rate(
            recordings.source, recordings.rate, self.config["sample_rate"], say=self.say, asked=self.config["asked"]
        )

    def index(self, recordings):
        """What datasets read: checked WAV paths (listed in `files`), waveforms at the model's rate, or the Stream."""
        index = audio_lib.index(recordings.audio, recordings.rate, self.sample_rate)
        if isinstance(index, np.ndarray) and index.dtype.kind in "US":
            self.files += index.tolist()
        return index


class ClassifierPreprocessor(SpeechPreprocessor):
    """Learns the classes, the sample rate and the duration (95% of the training recordings fit), and a
    bounded sample of training waveforms for the front end's normaliser; batches fixed-length waveforms.

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> waves = Recordings([np.zeros(800), np.zeros(1600)] * 4, 8000)
        >>> preprocessor = ClassifierPreprocessor()
        >>> preprocessor.adapt(Index(waves, ["no", "yes"] * 4, classes=["no", "yes"]))
        >>> preprocessor.classes, preprocessor.sample_rate, preprocessor.duration
        (['no', 'yes'], 8000, 0.2)
    """

    state_attributes = ("classes", "sample_rate", "duration")

    def __init__(self, *, duration=None, **config):
        super().__init__(duration=duration, **config)
        self.train_waveforms = None  # a bounded sample for the normaliser (not saved)

    def adapt(self, index):
        self.classes = list(index.classes)
        data_lib.require_two_classes(data_lib.encode_labels(index.targets, self.classes)[0], self.classes)
        self.choose_rate(index.inputs)
        # The duration comes from file headers (or one pass); normalisation from a bounded sample.
        train = audio_lib.index(index.inputs.audio, index.inputs.rate, self.sample_rate)
        rate = index.inputs.rate
        self.duration = float(
            self.config["duration"]
            or audio_lib.choose_duration(audio_lib.lengths(train, rate, self.sample_rate), self.sample_rate)
        )
        sample = audio_lib.sample_waves(train, rate, self.sample_rate, most=NORMALIZER_SAMPLE)
        self.train_waveforms = audio_lib.fix_length(sample, self.samples())

    def samples(self):
        return int(round(self.duration * self.sample_rate))

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        """Batches of (fixed-length float32 waveforms, class indices).

        WAV files are decoded and resampled inside tf.data; the fixed-length waveforms are cached in
        memory only when they fit `image_streams.MEMORY_CACHE_BYTES`, else decoded each epoch.
        """
        recordings, y = self.index(index.inputs), data_lib.encode_labels(index.targets, self.classes)[0]
        in_memory = not isinstance(recordings, data_lib.Stream) and not (
            isinstance(recordings, np.ndarray) and recordings.dtype.kind in "US"
        )
        cache = in_memory or len(y) * self.samples() * 4 <= image_streams.MEMORY_CACHE_BYTES
        waves = audio_lib.waveform_dataset(recordings, index.inputs.rate, self.sample_rate, self.samples())
        dataset = tf.data.Dataset.zip((waves, tf.data.Dataset.from_tensor_slices(np.asarray(y))))
        return data_lib.cached_batches(dataset, len(y), batch_size, cache=cache, shuffle=training, seed=seed)

    def inputs(self, raw, sample_rate=None):
        """A WAV path, a list of paths, one waveform or a list of them -> fixed-length waveforms (N, samples)."""
        if isinstance(raw, (str, os.PathLike)) or (isinstance(raw, np.ndarray) and raw.ndim == 1):
            raw = [raw]
        waves = audio_lib.waveforms(list(raw), sample_rate or self.sample_rate, self.sample_rate)
        return audio_lib.fix_length(waves, self.samples())
