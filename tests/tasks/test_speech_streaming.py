"""Speech streams its recordings: WAV files decoded and resampled inside tf.data, tf.data sources kept as streams."""

import numpy as np
import pytest
import scipy.io.wavfile
import tensorflow as tf

import toolkit
from tasks import SpeechClassifier
from tasks.speech import audio as audio_lib
from tests.tasks.test_speech_classification import RATE, tones, write_wavs
from toolkit import data as data_lib
from toolkit import images as images_lib

SMALL = {"backbone": "lenet", "width": 8}


@pytest.fixture
def tone_folder(tmp_path):
    waves, labels = tones(40)
    write_wavs(tmp_path / "wavs", waves, [f"{label}_{i}.wav" for i, label in enumerate(labels)])
    return tmp_path / "wavs", waves


def test_wav_folder_is_decoded_and_resampled_inside_tf_data(tone_folder, fast, monkeypatch):
    """Without room for a cache the files are read every epoch; the waveforms equal what predict reads."""
    folder, waves = tone_folder
    monkeypatch.setattr(images_lib, "MEMORY_CACHE_BYTES", 0)
    clf = SpeechClassifier(**SMALL, sample_rate=16000, **fast)
    splits = clf._prepare_data(str(folder), None)
    assert all(p.startswith(str(folder)) for p in clf._files)  # the index holds paths
    # The duration comes from the training files' headers: 95% of them fit in it.
    assert clf.duration_ == audio_lib.choose_duration([len(w) * 2 for w in waves], 16000) == 0.4
    paths = np.array(sorted(str(p) for p in folder.iterdir())[:3])
    streamed = np.stack(list(audio_lib.waveform_dataset(paths, None, 16000, clf._samples()).as_numpy_iterator()))
    read = audio_lib.fix_length(audio_lib.waveforms(list(paths), None, 16000), clf._samples())
    np.testing.assert_allclose(streamed, read)
    assert isinstance(splits.train, tf.data.Dataset)
    fitted = SpeechClassifier(**SMALL, sample_rate=16000, **{**fast, "epochs": 6}, patience=20).fit(str(folder))
    assert fitted.metrics_["test"]["accuracy"] >= 0.75  # chance 0.5


def test_tf_data_recordings_stay_a_stream(fast, monkeypatch):
    monkeypatch.setattr(data_lib, "dataset_to_arrays", lambda *a, **k: pytest.fail("the stream was materialised"))
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
