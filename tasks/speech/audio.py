"""Audio input shared by the speech tasks: reading, resampling, and the labelled sources they accept.

WAV files are read with SciPy (any PCM width or float, mono or multichannel),
mixed to mono, scaled to [-1, 1] and resampled with a polyphase filter
(`scipy.signal.resample_poly`). Unreadable or empty files are errors that name
the file.
"""

import math
import os
import pathlib
import re
import struct

import numpy as np
import tensorflow as tf

from toolkit import data as data_lib
from toolkit import readers
from toolkit import tfds as tfds_lib
from toolkit.errors import ToolkitError

AUDIO_EXTENSIONS = (".wav",)
# Default label of a file in a flat folder: the name up to the first underscore ("3_jackson_12.wav" -> "3").
DEFAULT_LABEL_PATTERN = r"^([^_]+)_"


# What scipy raises for a file that is not a readable WAV; struct.error and EOFError come from a
# header cut short (a 30-byte file), which scipy does not turn into a ValueError itself.
_UNREADABLE = (OSError, ValueError, struct.error, EOFError)


def read_wav(path, sample_rate=None, name=None):
    """Reads a WAV file as a float32 mono waveform in [-1, 1], resampled to `sample_rate` when given.

    `path` may be a file object (an upload read from memory), named in messages by `name`.

    Returns:
        (waveform, rate): the rate is `sample_rate`, or the file's own rate.

    Examples:
        >>> import tempfile, scipy.io.wavfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "beep.wav"
        >>> scipy.io.wavfile.write(path, 8000, (np.sin(np.arange(8000) / 5) * 20000).astype("int16"))
        >>> waveform, rate = read_wav(path, sample_rate=16000)
        >>> waveform.shape, rate, bool(abs(waveform).max() <= 1)
        ((16000,), 16000, True)
    """
    import scipy.io.wavfile

    name = path if name is None else name
    try:
        rate, data = scipy.io.wavfile.read(path)
    except _UNREADABLE as error:
        if name is path and not os.path.exists(path):
            raise ToolkitError(
                f"Audio file '{path}' does not exist.", expected="a path to a WAV file", fix="check the path"
            ) from None
        raise ToolkitError(
            f"Cannot read audio file '{name}': {error}",
            expected="a PCM or float WAV file",
            fix="convert it to WAV (e.g. `ffmpeg -i in.mp3 out.wav`) or remove it; nothing was changed",
        ) from None
    if data.size == 0:
        raise ToolkitError(
            f"Audio file '{name}' holds no samples.", expected="a non-empty recording", fix="remove or re-record it"
        )
    return to_mono_float(data, rate, sample_rate), sample_rate or rate


def read_finite_wav(path, sample_rate, name=None):
    """`read_wav`'s waveform, refused with an error naming the file when it holds NaN or infinity."""
    wave = read_wav(path, sample_rate, name)[0]
    if not np.isfinite(wave).all():
        raise ToolkitError(
            f"Audio file '{path if name is None else name}' holds NaN or infinite samples.",
            expected="finite samples",
            fix="re-export or remove that recording",
        )
    return wave


def to_mono_float(data, rate, sample_rate=None):
    """Integer or float samples (time[, channels]) -> float32 mono in [-1, 1] at `sample_rate`.

    Examples:
        >>> to_mono_float(np.array([[0, 32767], [32767, 32767]], "int16"), 8000).round(2).tolist()
        [0.5, 1.0]
    """
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float32) - (info.max + info.min + 1) / 2) / (info.max + 1) * (1 if info.min < 0 else 2)
    data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if sample_rate and sample_rate != rate:
        from scipy.signal import resample_poly

        divisor = math.gcd(int(sample_rate), int(rate))
        data = resample_poly(data, int(sample_rate) // divisor, int(rate) // divisor).astype(np.float32)
    return data


def list_audio(folder, label_pattern=None, accepted=None):
    """Labelled WAV files of a folder: class subfolders, or a flat folder labelled by `label_pattern`.

    Returns:
        (paths, labels).

    Examples:
        >>> import tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("3_jackson_0.wav", "7_theo_1.wav"):
        ...     _ = (folder / name).write_bytes(b"")
        >>> list_audio(folder)[1]
        ['3', '7']
    """
    folder = pathlib.Path(folder)
    nested = sorted(p for p in folder.glob("*/*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    flat = sorted(p for p in folder.glob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if nested and not flat and label_pattern is None:
        return [str(p) for p in nested], [p.parent.name for p in nested]
    if not flat:
        raise ToolkitError(
            f"Folder '{folder}' holds no WAV files (directly or in subfolders).",
            expected=accepted or "root/<class>/<name>.wav, or root/<name>.wav with the label in the name",
            fix="check the folder, or pass a CSV manifest of path,label",
        )
    pattern = re.compile(label_pattern or DEFAULT_LABEL_PATTERN)
    labels, unmatched = [], []
    for path in flat:
        match = pattern.search(path.name)
        labels.append(match.group(1) if match else None)
        if not match:
            unmatched.append(path.name)
    if unmatched:
        raise ToolkitError(
            f"{len(unmatched)} file names in '{folder}' do not match the label pattern {pattern.pattern!r}, "
            f"e.g. {unmatched[:3]}.",
            expected="names that carry the label, like '3_jackson_12.wav' (label '3')",
            fix="pass label_pattern= with one group around the label, or use class subfolders",
        )
    return [str(p) for p in flat], labels


def load_source(data, label_pattern=None, data_dir=None, accepted=None):
    """Any accepted speech data -> (audio, targets, rate): audio is file paths, waveform arrays, or a
    `toolkit.data.Stream` of (waveform, target) for a tf.data / TFDS source (never pulled into memory).

    `rate` is the sample rate of waveform arrays (None for files, which carry their own). `accepted`
    names the forms the task reads, in its errors.

    Examples:
        >>> audio, targets, rate = load_source(([np.zeros(800), np.ones(800)], ["a", "b"], 8000))
        >>> len(audio), targets, rate
        (2, ['a', 'b'], 8000)
    """
    accepted = accepted or (
        "a folder of class subfolders of WAV files, a folder of WAV files whose names carry the label, "
        "a CSV / TSV manifest of path,label (or path,transcript), (waveforms, targets, sample_rate), "
        "a tf.data.Dataset of (waveform, target), or 'tfds:NAME'"
    )
    if isinstance(data, tf.data.Dataset):
        return _stream(data_lib.unbatched(data)) + (None,)
    if isinstance(data, (tuple, list)) and len(data) in (2, 3) and not isinstance(data[0], str):
        audio, targets = list(data[0]), list(data[1])
        data_lib.check_same_length(audio, targets)
        return audio, targets, (data[2] if len(data) == 3 else None)
    if isinstance(data, str) and data.startswith("tfds:") and not os.path.exists(data):
        import tensorflow_datasets as tfds

        dataset, names = tfds_lib.load_tfds(data, data_dir)
        audio, targets = _stream(data_lib.unbatched(dataset))
        name = data.split(":")[1]
        rate = getattr(tfds.builder(name, data_dir=data_dir).info.features["audio"], "sample_rate", None)
        return audio, [names[int(t)] for t in targets] if names else targets, rate
    if isinstance(data, (str, os.PathLike)):
        path = readers.existing_path(data, accepted)
        if path.is_dir():
            return list_audio(path, label_pattern, accepted) + (None,)
        if path.suffix.lower() in (".csv", ".tsv"):
            return readers.read_manifest(path, "audio") + (None,)
    raise ToolkitError(
        f"Cannot use {type(data).__name__} {str(data)[:60]!r} as speech data.",
        expected=accepted,
        fix="convert the data to one of those forms",
    )


def _stream(source):
    """(Stream over every example, targets read in one pass)."""
    targets = data_lib.stream_targets(source, "recording")
    return data_lib.Stream(source, np.arange(len(targets)), len(targets)), targets


def waveforms(audio, rate, sample_rate):
    """File paths or arrays -> list of float32 mono waveforms at `sample_rate`.

    Examples:
        >>> [w.shape for w in waveforms([np.zeros(800, "int16")], 8000, 16000)]
        [(1600,)]
    """
    data_lib.check_finite([item for item in audio if not isinstance(item, (str, os.PathLike))], "waveform")
    out = []
    for item in audio:
        if isinstance(item, (str, os.PathLike)):
            out.append(read_finite_wav(item, sample_rate))
            continue
        array = np.asarray(item)
        if array.size == 0:
            raise ToolkitError(
                f"Waveform {len(out)} is empty.", expected="non-empty waveforms", fix="drop empty recordings"
            )
        if rate is None and sample_rate is None:
            raise ToolkitError(
                "Waveform arrays came without a sample rate.",
                expected="(waveforms, targets, sample_rate), or sample_rate= on the task",
                fix="pass the recordings' sample rate",
            )
        out.append(to_mono_float(array, rate or sample_rate, sample_rate))
    return out


def fix_length(waves, length):
    """Pads with zeros or crops (centred) each waveform to `length` samples. Returns a float32 array.

    Examples:
        >>> fix_length([np.ones(3), np.ones(7)], 5).tolist()
        [[1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]]
    """
    out = np.zeros((len(waves), length), dtype=np.float32)
    for i, wave in enumerate(waves):
        if len(wave) > length:
            start = (len(wave) - length) // 2
            wave = wave[start : start + length]
        out[i, : len(wave)] = wave
    return out


def choose_duration(waves, sample_rate):
    """Seconds that cover 95% of the recordings (waveforms, or their lengths in samples), rounded up
    to a tenth of a second.

    Examples:
        >>> choose_duration([np.zeros(8000)] * 39 + [np.zeros(16000)], 8000), choose_duration([4000, 8000], 8000)
        (1.0, 1.0)
    """
    seconds = np.percentile([(w if np.isscalar(w) else len(w)) / sample_rate for w in waves], 95)
    return max(0.1, math.ceil(seconds * 10 - 1e-9) / 10)


# ----------------------------------------------------------------- streaming
# The index of recordings a task splits and streams: WAV paths (a NumPy string array; read inside
# tf.data), waveforms the user passed (a list, already at the model's rate: they are in memory), or
# a `toolkit.data.Stream` of (waveform, target) at `rate`.


def _is_paths(audio):
    return not isinstance(audio, data_lib.Stream) and len(audio) > 0 and isinstance(audio[0], (str, os.PathLike))


# Most WAV headers read to choose the sample rate (headers only: cheap even for big folders).
RATE_SAMPLE = 1000


def choose_rate(audio, rate, sample_rate=None, say=None, asked="as asked (sample_rate=)"):
    """The model's sample rate, by one rule both speech tasks share:

    the rate asked for (`sample_rate=`, or a pretrained preset's own: `asked` says which); else the rate of arrays
    or a stream; else, for files, the most common rate among their WAV headers (up to
    `RATE_SAMPLE` files, evenly spaced over the sorted paths, so the choice does not depend
    on the order the files were listed in), and on a tie the highest (resampling down loses
    less than resampling up invents). Files at other rates are resampled. `say` gets one line
    naming the rate and why.

    Examples:
        >>> choose_rate([np.zeros(8)], 8000), choose_rate([np.zeros(8)], 8000, 16000)
        (8000, 16000)
    """
    if sample_rate is not None:
        if say:
            say(f"Sample rate: {int(sample_rate)} Hz, {asked}.")
        return int(sample_rate)
    if _is_paths(audio):
        import collections

        paths = sorted(str(path) for path in audio)
        chosen = np.unique(np.linspace(0, len(paths) - 1, min(len(paths), RATE_SAMPLE)).round().astype(int))
        rates = collections.Counter(header(paths[i])[0] for i in chosen)
        sample_rate = max(rates, key=lambda r: (rates[r], r))
        if say:
            counts = ", ".join(f"{r} Hz: {n}" for r, n in sorted(rates.items(), key=lambda item: (-item[1], -item[0])))
            resampled = " (the others are resampled to it)" if len(rates) > 1 else ""
            say(
                f"Sample rate: {sample_rate} Hz, the most common among {len(chosen)} WAV headers ({counts}){resampled}; "
                "pass sample_rate= to choose."
            )
        return int(sample_rate)
    if rate is None:
        raise ToolkitError(
            "Waveform arrays came without a sample rate.",
            expected="(waveforms, targets, sample_rate), or sample_rate= on the task",
            fix="pass the recordings' sample rate",
        )
    if say:
        say(f"Sample rate: {int(rate)} Hz, the rate the recordings came with.")
    return int(rate)


def header(path):
    """(sample rate, frames) of a WAV file, from its header (the samples are memory-mapped, not read).

    Examples:
        >>> import tempfile, scipy.io.wavfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.wav"
        >>> scipy.io.wavfile.write(path, 8000, np.zeros(400, "int16"))
        >>> header(path)
        (8000, 400)
    """
    import scipy.io.wavfile

    try:
        rate, data = scipy.io.wavfile.read(path, mmap=True)
    except _UNREADABLE:
        read_wav(path)  # raises the error that names the file
        raise
    if data.size == 0:
        read_wav(path)  # "holds no samples"
    return int(rate), int(data.shape[0])


def index(audio, rate, sample_rate):
    """The index a task streams: checked WAV paths, in-memory waveforms at `sample_rate`, or the Stream.

    Examples:
        >>> [w.shape for w in index([np.zeros(800, "int16")], 8000, 16000)]
        [(1600,)]
    """
    if isinstance(audio, data_lib.Stream):
        if rate is None and sample_rate is None:
            choose_rate(audio, rate, sample_rate)  # raises: a stream's rate must be given
        return audio
    if _is_paths(audio):
        return np.array([str(p) for p in audio])
    return waveforms(audio, rate, sample_rate)


def lengths(audio, rate, sample_rate):
    """Length in samples at `sample_rate` of each recording: from file headers, arrays, or one pass of a stream.

    Examples:
        >>> lengths([np.zeros(800)], None, 8000)
        [800]
    """
    if isinstance(audio, data_lib.Stream):
        counted = audio.dataset().map(lambda w, t: tf.shape(w)[0], num_parallel_calls=tf.data.AUTOTUNE)
        scale = sample_rate / (rate or sample_rate)
        return [int(math.ceil(int(n) * scale)) for n in counted.as_numpy_iterator()]
    if isinstance(audio, np.ndarray) and audio.dtype.kind in "US":
        out = []
        for path in audio:
            file_rate, frames = header(path)
            out.append(int(math.ceil(frames * sample_rate / file_rate)))
        return out
    return [len(w) for w in audio]


def sample_waves(audio, rate, sample_rate, most=500):
    """At most about `most` evenly spaced recordings of an index, read here: a bounded sample to learn
    the front end's normalisation from.

    Examples:
        >>> len(sample_waves([np.zeros(8)] * 1200, None, 8000))
        600
    """
    step = max(1, len(audio) // most)
    if isinstance(audio, data_lib.Stream):
        chosen = audio.part(np.arange(0, len(audio), step))
        return [to_mono_float(w, rate or sample_rate, sample_rate) for w, _ in chosen.dataset().as_numpy_iterator()]
    chosen = audio[::step]
    return waveforms(list(chosen), rate, sample_rate) if _is_paths(audio) else list(chosen)


def waveform_dataset(audio, rate, sample_rate, samples=None):
    """A dataset of float32 mono waveforms at `sample_rate`, in the index's order, decoded inside tf.data
    (files) or taken from memory; padded or cropped (centred) to `samples` when given.

    Examples:
        >>> [w.shape for w in waveform_dataset([np.ones(3), np.ones(9)], None, 8000, samples=5)]
        [TensorShape([5]), TensorShape([5])]
    """

    def finish(wave):
        if samples is None:
            return np.asarray(wave, np.float32)
        return fix_length([wave], samples)[0]

    shape = (samples,) if samples else (None,)
    if isinstance(audio, data_lib.Stream):
        source_rate = rate or sample_rate

        def convert(wave, target):
            out = tf.numpy_function(
                lambda w: finish(to_mono_float(w, source_rate, sample_rate)), [wave], tf.float32, stateful=False
            )
            return tf.debugging.check_numerics(tf.ensure_shape(out, shape), "toolkit: a waveform holds NaN")

        return audio.dataset().map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    if isinstance(audio, np.ndarray) and audio.dtype.kind in "US":

        def decode(path):
            out = tf.numpy_function(
                lambda p: finish(read_wav(p.decode(), sample_rate)[0]), [path], tf.float32, stateful=False
            )
            return tf.debugging.check_numerics(tf.ensure_shape(out, shape), "toolkit: a waveform holds NaN")

        return tf.data.Dataset.from_tensor_slices(audio).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if samples:
        return tf.data.Dataset.from_tensor_slices(fix_length(audio, samples))
    return tf.data.Dataset.from_generator(
        lambda: (np.asarray(w, np.float32) for w in audio), output_signature=tf.TensorSpec((None,), tf.float32)
    )


def find_unreadable(paths, sample_rate, limit=3):
    """The errors of the first files among `paths` that cannot be read or hold NaN (after a tf.data failure)."""
    found = []
    for path in paths:
        try:
            read_finite_wav(path, sample_rate)
        except ToolkitError as error:
            found.append(error)
            if len(found) >= limit:
                break
    return found
