"""What the speech tasks learn from the training recordings (the sample rate; the classifier's classes and
duration; the recogniser's characters) and their tf.data pipelines of decoded, resampled waveforms."""

import collections
import os
import warnings

import numpy as np
import tensorflow as tf

from tasks.speech import audio as audio_lib
from toolkit import data as data_lib
from toolkit import image_streams
from toolkit.errors import ToolkitError
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

    def choose_rate(self, recordings):
        self.sample_rate = audio_lib.choose_rate(
            recordings.source, recordings.rate, self.config["sample_rate"], say=self.say, asked=self.config["asked"]
        )

    def index(self, recordings):
        """What datasets read: checked WAV paths (listed in `files`), waveforms at the model's rate, or the Stream."""
        index = self.resampled(recordings)
        if isinstance(index, np.ndarray) and index.dtype.kind in "US":
            self.files += index.tolist()
        return index

    def resampled(self, recordings, keep=False):
        """`audio.index` of the recordings at the model's rate. `adapt` keeps the training part's (`keep`)
        until its dataset asks for it, then lets it go: its arrays are resampled once, not twice."""
        held, self._resampled = getattr(self, "_resampled", None), None
        if held is not None and held[0] is recordings and held[1] == self.sample_rate:
            return held[2]
        index = audio_lib.index(recordings.audio, recordings.rate, self.sample_rate)
        if keep:
            self._resampled = (recordings, self.sample_rate, index)
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
        train = self.resampled(index.inputs, keep=True)
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


# Silence appended to every utterance, in training and inference alike. CTC often emits a word's last
# character a few steps after the sound ends; without room after the end, transcripts lost it
# ("three" -> "thre": WER 0.20 on FSDD digit strings; 0.006 with this margin, same trained model).
TRAILING_SILENCE = 0.25
# A split part: the Keras view (batches of (waveforms, CTC labels)) and, per batch, what scoring needs
# beyond it: each utterance's true length in samples and its reference transcript as written.
Utterances = collections.namedtuple("Utterances", ["dataset", "batches"])


class RecognizerPreprocessor(SpeechPreprocessor):
    """Learns the sample rate and the characters of the training transcripts (and a bounded sample of
    training waveforms for the normaliser); batches utterances of similar length as `Utterances`.

    Args:
        sample_rate: the rate to resample to, or None (see `audio.choose_rate`).
        asked: why a given rate was chosen (as asked, or a preset's own).
        preset: a pretrained preset's model, whose own preprocessor tokenises (no CTC labels, no margin).
        time_stride: frames per output step of the from-scratch network (CTC needs a step per character).

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> waves = Recordings([np.zeros(8000)] * 2, 8000)
        >>> preprocessor = RecognizerPreprocessor(time_stride=2)
        >>> preprocessor.adapt(Index(waves, ["one two", "two"]))
        >>> preprocessor.vocabulary, preprocessor.encode("two one")
        ([' ', 'e', 'n', 'o', 't', 'w'], [5, 6, 4, 1, 4, 3, 2])
    """

    state_attributes = ("vocabulary", "sample_rate")

    def __init__(self, *, preset=False, time_stride=None, **config):
        super().__init__(preset=preset, time_stride=time_stride, **config)
        self.train_waveforms = None  # a bounded sample for the normaliser (not saved)

    def adapt(self, index):
        self.choose_rate(index.inputs)
        # The characters come from the training part only; held-out transcripts are scored as written.
        self.vocabulary = sorted(set("".join(index.targets)))
        train = self.resampled(index.inputs, keep=True)
        self.train_waveforms = audio_lib.sample_waves(train, index.inputs.rate, self.sample_rate, most=500)
        self.train_seconds = sum(audio_lib.lengths(train, index.inputs.rate, self.sample_rate)) / self.sample_rate

    def margin(self):
        """Samples of silence after each utterance."""
        return 0 if self.config["preset"] else int(TRAILING_SILENCE * self.sample_rate)

    def output_steps(self, samples):
        frames = samples // (self.sample_rate // 100) + 1  # 10 ms hops (frontend.mel_settings)
        return -(-frames // self.config["time_stride"])

    def encode(self, text):
        index = {c: i + 1 for i, c in enumerate(self.vocabulary)}  # 0 is CTC's blank
        return [index[c] for c in text if c in index]

    def warn_unknown_characters(self, texts, which):
        unknown = sorted(set("".join(texts)) - set(self.vocabulary))
        if unknown:
            warnings.warn(
                f"Characters {unknown} of the {which} transcripts do not occur in the training transcripts: the "
                "model cannot produce them, and they count as errors in CER / WER.",
                stacklevel=4,
            )

    def check_lengths(self, lengths, texts):
        """CTC needs at least one output step per character (two for repeated ones)."""
        if self.config["preset"] or not self.config["time_stride"]:
            return
        steps = [self.output_steps(n) for n in lengths]
        short = [i for i, (n, t) in enumerate(zip(steps, texts)) if n < len(t) + sum(a == b for a, b in zip(t, t[1:]))]
        if short:
            raise ToolkitError(
                f"{len(short)} recordings are too short for their transcripts (e.g. #{short[0]}: "
                f"{lengths[short[0]] / self.sample_rate:.2f} s for {texts[short[0]]!r}).",
                expected=f"at least about {10 * self.config['time_stride']} ms of audio per character",
                fix="check the pairing of recordings and transcripts",
            )

    def dataset(self, index, *, training=False, batch_size=16, seed=0):
        """Batches of utterances of similar length, zero-padded to the longest in each batch, as `Utterances`.

        Recordings are decoded inside tf.data. Files and arrays are grouped by length (from the
        headers) before batching, which keeps padding small; the grouping is fixed and the order
        of the groups is shuffled each epoch. Decoded batches are cached only when all of them fit
        `image_streams.MEMORY_CACHE_BYTES`; otherwise only the group order is shuffled and each group
        is decoded when it comes. A stream cannot be sorted without reading it all: it is bucketed
        by length as it flows (`tf.data`'s `bucket_by_sequence_length`).
        Each batch also keeps its utterances' true lengths and transcripts, so scoring decodes
        exactly the audio `predict` would and compares with the references as written.
        """
        recordings, rate, texts = self.index(index.inputs), index.inputs.rate, list(index.targets)
        lengths = audio_lib.lengths(recordings, rate, self.sample_rate)
        self.check_lengths(lengths, texts)
        if not training:
            self.warn_unknown_characters(texts, "held-out")
        preset = self.config["preset"]
        labels = [self.encode(t) for t in texts] if not preset else [[0]] * len(texts)
        margin = self.margin()
        width = max(1, max(len(label) for label in labels))
        label_matrix = np.zeros((len(labels), width), np.int32)
        for row, label in enumerate(labels):
            label_matrix[row, : len(label)] = label
        label_lengths = np.array([max(1, len(label)) for label in labels], np.int32)
        table = (
            tf.constant(label_matrix), tf.constant(label_lengths), tf.constant(np.asarray(lengths, np.int32)),
            tf.constant(texts, tf.string),
        )  # fmt: skip
        shapes = ([None], [None], [], [])
        if isinstance(recordings, data_lib.Stream):
            waves = audio_lib.waveform_dataset(recordings, rate, self.sample_rate)
            examples = tf.data.Dataset.zip((waves, tf.data.Dataset.range(len(texts)))).map(
                lambda wave, i: (wave, table[0][i][: table[1][i]], table[2][i], table[3][i])
            )
            if training:
                examples = examples.shuffle(min(len(texts), 1000), seed=seed, reshuffle_each_iteration=True)
            edges = sorted(set(np.percentile(lengths, np.linspace(10, 90, 9)).astype(int).tolist()))
            batches = examples.bucket_by_sequence_length(
                lambda wave, *rest: tf.shape(wave)[0], edges, [batch_size] * (len(edges) + 1),
                padded_shapes=shapes,
            )  # fmt: skip
        else:
            order = np.argsort(lengths, kind="stable")
            count = -(-len(order) // batch_size)
            decode = self._decoder(recordings, table)
            fits = not isinstance(recordings, np.ndarray) or sum(lengths) * 4 <= image_streams.MEMORY_CACHE_BYTES
            if fits:
                batches = tf.data.Dataset.from_tensor_slices(order).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
                batches = batches.padded_batch(batch_size, padded_shapes=shapes).cache()
                if training:
                    batches = batches.shuffle(count, seed=seed, reshuffle_each_iteration=True)
            else:
                groups = tf.ragged.constant([order[i : i + batch_size] for i in range(0, len(order), batch_size)])
                ids = tf.data.Dataset.range(count)
                if training:
                    ids = ids.shuffle(count, seed=seed, reshuffle_each_iteration=True)
                batches = ids.flat_map(
                    lambda g: (
                        tf.data.Dataset.from_tensor_slices(groups[g])
                        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
                        .padded_batch(batch_size, padded_shapes=shapes)
                    )
                )
            batches = batches.apply(tf.data.experimental.assert_cardinality(count))
        # The same trailing silence `predict` appends.
        batches = batches.map(lambda a, labels, n, t: (tf.pad(a, [[0, 0], [0, margin]]), labels, n, t))
        if preset:  # KerasHub's preprocessor tokenises the text itself
            keras_view = batches.map(lambda a, labels, n, t: ({"audio": a[..., None], "text": t},))
        else:
            keras_view = batches.map(lambda a, labels, n, t: (a, labels))
        return Utterances(keras_view.prefetch(tf.data.AUTOTUNE), batches.prefetch(tf.data.AUTOTUNE))

    def _decoder(self, recordings, table):
        """A tf function: a position of the index -> (waveform, label ids, length, transcript)."""
        if isinstance(recordings, np.ndarray) and recordings.dtype.kind in "US":
            read = lambda i: audio_lib.read_wav(recordings[int(i)], self.sample_rate)[0]  # noqa: E731
        else:
            read = lambda i: np.asarray(recordings[int(i)], np.float32)  # noqa: E731

        def decode(i):
            wave = tf.numpy_function(read, [i], tf.float32, stateful=False)
            wave = tf.debugging.check_numerics(tf.ensure_shape(wave, (None,)), "toolkit: a waveform holds NaN")
            return wave, table[0][i][: table[1][i]], table[2][i], table[3][i]

        return decode


def transcripts(values):
    """Transcripts as stripped strings; anything else is an error (an integer is not a transcript to score)."""
    texts = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ToolkitError(
            f"{len(bad)} transcripts are not text, e.g. #{bad[0]}: {texts[bad[0]]!r} ({type(texts[bad[0]]).__name__}).",
            expected="a string transcript per recording, written as spoken (e.g. 'three one four', not 314)",
            fix="convert the transcripts to the words spoken",
        )
    texts = [t.strip() for t in texts]
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        raise ToolkitError(
            f"{len(empty)} transcripts are empty (e.g. #{empty[0]}).",
            expected="a transcript per recording",
            fix="remove or fill those rows",
        )
    return texts
