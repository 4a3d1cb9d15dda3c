"""Speech streams its recordings: WAV files decoded and resampled inside tf.data, tf.data sources kept as streams."""

import numpy as np
import pytest
import scipy.io.wavfile
import tensorflow as tf

import toolkit
from tasks import SpeechClassifier
from tasks.speech import audio as audio_lib
from tests.tasks.test_speech_classification import RATE, tones, write_wavs
from toolkit import image_streams

SMALL = {"backbone": "lenet", "width": 8}


@pytest.fixture
def tone_folder(tmp_path):
    waves, labels = tones(40)
    write_wavs(tmp_path / "wavs", waves, [f"{label}_{i}.wav" for i, label in enumerate(labels)])
    return tmp_path / "wavs", waves


def test_wav_folder_is_decoded_and_resampled_inside_tf_data(tone_folder, fast, monkeypatch):
    """Without room for a cache the files are read every epoch; the waveforms equal what predict reads."""
    folder, waves = tone_folder
    monkeypatch.setattr(image_streams, "MEMORY_CACHE_BYTES", 0)
    clf = SpeechClassifier(**SMALL, sample_rate=16000, **fast)
    splits = clf.prepare_data(str(folder), None)
    assert all(p.startswith(str(folder)) for p in clf.preprocessor_.files)  # the index holds paths
    # The duration comes from the training files' headers: 95% of them fit in it.
    assert clf.duration_ == audio_lib.choose_duration([len(w) * 2 for w in waves], 16000) == 0.4
    paths = np.array(sorted(str(p) for p in folder.iterdir())[:3])
    streamed = np.stack(list(audio_lib.waveform_dataset(paths, None, 16000, clf._samples()).as_numpy_iterator()))
    read = audio_lib.fix_length(audio_lib.waveforms(list(paths), None, 16000), clf._samples())
    np.testing.assert_allclose(streamed, read)
    assert isinstance(splits.train, tf.data.Dataset)
    fitted = SpeechClassifier(**SMALL, sample_rate=16000, **{**fast, "epochs": 6}, patience=20).fit(str(folder))
    assert fitted.metrics_["test"]["accuracy"] >= 0.75  # chance 0.5


def test_tf_data_recordings_stay_a_stream(fast):
    waves, labels = tones(40)

    def generate():
        yield from zip(waves, labels)

    spec = (tf.TensorSpec((None,), tf.float32), tf.TensorSpec((), tf.string))
    source = tf.data.Dataset.from_generator(generate, output_signature=spec)
    clf = SpeechClassifier(**SMALL, sample_rate=RATE, **{**fast, "epochs": 6}, patience=20).fit(source)
    assert clf.classes_ == ["high", "low"] and clf.duration_ == 0.4
    assert clf.metrics_["test"]["accuracy"] >= 0.75
    assert len(clf.train_waveforms_) <= 40  # the normaliser's bounded sample of the training part
    with pytest.raises(toolkit.ToolkitError, match="came without a sample rate"):
        SpeechClassifier(**SMALL, **fast).fit(source)


def test_recording_that_fails_inside_tf_data_is_named(tone_folder, fast):
    """A float WAV with NaN samples has a good header (the index accepts it) and fails while training."""
    folder, waves = tone_folder
    bad = waves[0].copy()
    bad[10] = np.nan
    scipy.io.wavfile.write(folder / "low_nan.wav", RATE, bad)
    with pytest.raises(toolkit.ToolkitError, match="(?s)'.*low_nan.wav' holds NaN"):
        SpeechClassifier(**SMALL, **fast, test_split=0, validation_split=0.5).fit(str(folder))


# ------------------------------------------------------------------ speech recognition
def _batches(utterances):
    """Each batch as (padded length, sorted transcripts)."""
    return sorted((int(a.shape[1]), sorted(t.decode() for t in texts.numpy())) for a, _, _, texts in utterances.batches)


def test_recognizer_groups_files_by_length_with_or_without_a_cache(tmp_path, fast, monkeypatch):
    from tasks import SpeechRecognizer
    from tests.tasks.test_speech_recognition import write_tone_manifest

    write_tone_manifest(tmp_path, 20)
    asr = SpeechRecognizer(width=16, num_layers=1, **{**fast, "batch_size": 4})
    splits = asr.prepare_data(str(tmp_path / "manifest.tsv"), None)
    assert all(p.startswith(str(tmp_path)) for p in asr.preprocessor_.files)  # the index holds paths
    cached = _batches(splits.train)
    monkeypatch.setattr(image_streams, "MEMORY_CACHE_BYTES", 0)
    uncached = _batches(asr.prepare_data(str(tmp_path / "manifest.tsv"), None).train)
    assert cached == uncached and len(cached) == -(
        -splits.info["train_examples"] // 4
    )  # the same length groups, read per group from the files
    lengths = audio_lib.lengths(np.array(sorted(str(p) for p in tmp_path.glob("*.wav"))), None, RATE)
    margin = asr._margin()
    assert all(length - margin in lengths for length, _ in cached)  # padded to the group's longest + silence


def test_recognizer_stream_is_bucketed_as_it_flows(fast):
    from tasks import SpeechRecognizer
    from tests.tasks.test_speech_recognition import tone_words

    waves, texts = tone_words(24)
    spec = (tf.TensorSpec((None,), tf.float32), tf.TensorSpec((), tf.string))
    source = tf.data.Dataset.from_generator(lambda: zip(waves, texts), output_signature=spec)
    asr = SpeechRecognizer(width=16, num_layers=1, sample_rate=RATE, **{**fast, "epochs": 1, "batch_size": 4})
    asr.fit(source)
    assert set("".join(asr.vocabulary_)) <= set("abc")
    batches = list(asr.evaluation_data(source).batches)
    assert sum(len(t) for *_, t in batches) == 24 and len(batches) >= 6
    for padded, _, lengths, _ in batches:  # a bucket pads to its own longest utterance
        assert padded.shape[1] == int(max(lengths.numpy())) + asr._margin()
    # Scoring the stream decodes exactly what predict does on the same recordings.
    from toolkit.metrics import error_rates

    assert asr.evaluate(source)["cer"] == pytest.approx(error_rates(texts, asr.predict(waves))["cer"])
