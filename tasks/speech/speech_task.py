"""What the two speech tasks share: the sample rate their preprocessor learns, the augmentation check,
the error for missing data, and naming the recording behind a decoding error."""

import io

import tensorflow as tf

from tasks.speech import audio as audio_lib
from tasks.speech import frontend
from toolkit import preprocessing
from toolkit.errors import ToolkitError
from toolkit.task import Task


class SpeechTask(Task):
    """A `Task` on recordings, whose preprocessor learns `sample_rate` and lists the `files` it reads."""

    serving_input = "audio"
    missing_data = ("recordings", "pass data=...")  # (what is expected, how to give it) when data is None
    sample_rate_ = preprocessing.learned("sample_rate")

    def _check_combinations(self):
        super()._check_combinations()
        frontend.check(self.augment)

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        if data is None:
            raise ToolkitError(
                f"No training data was given, and {self.task_name.replace('-', ' ')} has no built-in dataset.",
                expected=self.missing_data[0],
                fix=self.missing_data[1],
            )
        return super().prepare_data(data, validation_data)

    def decode_upload(self, name, data):
        """An uploaded WAV -> a float32 mono waveform at the model's rate (`predict`'s default for arrays)."""
        return audio_lib.read_finite_wav(io.BytesIO(data), self.sample_rate_, name)

    def explain_data_error(self, error):
        """tf.data does not name the recording it failed on: find the unreadable or NaN files and name them."""
        files = getattr(getattr(self, "preprocessor_", None), "files", None)
        if "toolkit: a waveform holds NaN" in str(error) and not files:
            return ToolkitError(
                "The dataset's waveforms hold NaN or infinite values.",
                expected="finite samples",
                fix="drop those recordings (e.g. dataset.filter on tf.reduce_all(tf.math.is_finite(x)))",
            )
        if not isinstance(error, tf.errors.OpError):
            return None
        found = audio_lib.find_unreadable(files or [], self.sample_rate_)
        return found[0] if found else None
