"""Spoken-command classification: `SpeechClassifier` and `train_speech_classifier`."""

import os

import keras
import numpy as np  # noqa: F401  (the examples use it)

from tasks.speech import audio as audio_lib
from tasks.speech import (
    backbones,  # noqa: F401  (registers the recurrent audio backbones)
    frontend,
)
from tasks.speech.preprocessor import ClassifierPreprocessor, Recordings
from tasks.speech.speech_task import SpeechTask
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import estimator, preprocessing
from toolkit import export as export_lib
from toolkit.classification import ClassifierMixin
from toolkit.preprocessing import Index
from toolkit.saving import register_task

SPEECH_EPOCHS = 40  # epochs=None on a folder the size of FSDD's (more are raised to a number of steps)


@register_task
class SpeechClassifier(ClassifierMixin, SpeechTask):
    """Classifies short recordings, such as spoken commands, into named classes.

    The saved model takes raw mono waveforms at `sample_rate_`, padded or
    cropped to `duration_` seconds: the log-mel front end, its normalisation
    and the training-only augmentation are layers inside it.

    Args:
        backbone: an image CNN run on the log-mel spectrogram ("vgg": the
            default small CNN, "resnet", "mobilenet", "lenet"), a recurrent
            model ("mel_gru", "mel_lstm"), or a `keras.Model` mapping
            (frames, mel bins) features to a vector.
        sample_rate: rate to resample to; default: the data's own (the most common among the files'
            headers, ties to the highest; `audio.choose_rate`), printed when training starts.
        duration: seconds each recording is padded or cropped to; default:
            enough for 95% of the training recordings.
        num_mel_bins: mel filters of the front end.
        width: base filters / units of from-scratch backbones.
        dropout: dropout rate before the classification layer.
        augment: training-only augmentation, from "shift" (up to 10% of the length), "noise" (white
            noise at 15-40 dB SNR) and "specaugment" (time and frequency masks).
        label_pattern: regular expression whose first group is the label in
            a flat folder's file names (default: the text before the first "_").
        data_dir: TFDS data folder for "tfds:NAME" data.
        epochs: most epochs to train (early stopping may stop sooner); None: 40, raised on a small folder
            until a from-scratch network gets 1,000 optimizer steps (at most 200 epochs). Early stopping's
            patience and warm-up are 5 and 0 epochs on a budget of 40, a fifth of a larger one each.
        batch_size: examples per training step; None: 16 for a from-scratch network on fewer than 500
            training recordings, else 32 (printed).
        **kwargs: the arguments every task shares (learning_rate, finetune, tune, save_dir, run_name, ...;
            see `toolkit.Task`).

    Examples:
        >>> clf = SpeechClassifier().fit("recordings/")  # doctest: +SKIP
        >>> clf.predict(["yes.wav"])  # doctest: +SKIP
        [{'label': 'yes', 'probability': 0.98, 'probabilities': {...}}]
    """

    task_name = "speech-classification"
    description = "classify short recordings (spoken commands) into classes"
    budget_epochs = SPEECH_EPOCHS
    default_data = None
    data_forms = (
        "a folder of WAV files, root/<label>/<name>.wav or root/<name>.wav with the label in the name "
        "(--label-pattern, e.g. FSDD's 3_jackson_12.wav), a CSV / TSV manifest of path,label (paths relative to "
        "it), a (waveforms, labels, sample_rate) tuple, or 'tfds:NAME' (e.g. tfds:speech_commands)"
    )
    # The image CNNs on the log-mel image, and the recurrent audio backbones.
    backbone_filters = ({"modality": "image", "convolutional": True}, {"modality": "audio"})
    keras_hub_task = None
    preprocessor_class = ClassifierPreprocessor
    missing_data = (
        "a folder of WAV files, a manifest, (waveforms, labels, sample_rate), or 'tfds:NAME'",
        "pass data=... (CLI: --data recordings/)",
    )

    _parameter_constraints = {
        "dropout": estimator.DROPOUT,
        "width": estimator.POSITIVE,
        "num_mel_bins": estimator.POSITIVE,
        "duration": estimator.above(0, none=True, what="a number of seconds"),
        "sample_rate": estimator.at_least(1, none=True, what="a rate in Hz, e.g. 16000,"),
    }

    def __init__(
        self,
        *,
        backbone: str | keras.Model = "vgg",
        sample_rate: int | None = None,
        duration: float | None = None,
        num_mel_bins: int = 40,
        width: int = 32,
        dropout: float = 0.3,
        augment: tuple[str, ...] = ("shift", "specaugment"),
        label_pattern: str | None = None,
        data_dir: str | os.PathLike | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        **kwargs,
    ):
        super().__init__(epochs=epochs, batch_size=batch_size, **kwargs)
        self.backbone = backbone
        self.sample_rate = sample_rate
        self.duration = duration
        self.num_mel_bins = num_mel_bins
        self.width = width
        self.dropout = dropout
        self.augment = augment
        self.label_pattern = label_pattern
        self.data_dir = data_dir

    # ------------------------------------------------------------------- data
    def read_data(self, data):
        audio, labels, rate = audio_lib.load_source(data, self.label_pattern, self.data_dir)
        if not isinstance(audio, data_lib.Stream):  # positions in the whole source, as the user counts
            data_lib.check_finite([item for item in audio if not isinstance(item, (str, os.PathLike))], "waveform")
        y, classes = data_lib.encode_labels(labels)  # the whole source's classes, for stratifying
        return Index(Recordings(audio, rate), labels, y, data_lib.describe(data), classes)

    def make_preprocessor(self):
        return ClassifierPreprocessor(sample_rate=self.sample_rate, duration=self.duration)

    def prepare_data(self, data, validation_data):
        splits = super().prepare_data(data, validation_data)
        info = splits.info
        self.say(
            f"Speech classification: {len(self.classes_)} classes, {self.duration_:g} s at {self.sample_rate_} Hz; "
            f"{info['train_examples']} train / {info['validation_examples']} validation / {info['test_examples']} test."
        )
        return splits

    # What was learned lives in the preprocessor; these are its scikit-learn-style names.
    classes_ = preprocessing.learned("classes")
    duration_ = preprocessing.learned("duration")
    train_waveforms_ = property(lambda self: self.preprocessor_.train_waveforms, doc="The normaliser's sample.")

    def _samples(self):
        return self.preprocessor_.samples()

    # ------------------------------------------------------------------ model
    def _patience(self):
        """`patience`, or when None: 5 on a budget of up to `SPEECH_EPOCHS` (a spoken-command network learns
        from its first epochs on FSDD), a fifth of a larger budget (a small folder's, where validation begins
        to climb only after a dozen epochs)."""
        if self.patience is not None:
            return self.patience
        return 5 if self._epochs() <= SPEECH_EPOCHS else self._epochs() // 5

    def _warmup_epochs(self):
        """`warmup_epochs`, or when None: none on a budget of up to `SPEECH_EPOCHS`, a fifth of a larger one.
        On FSDD the image tasks' warm-up (8 of 40 epochs, patience 8) never did better than none with
        patience 5 (seeds 0-2: 0.9967 / 1.0 / 0.9933 against 1.0 / 1.0 / 0.9967, in 36-40 epochs against
        21-36); on a small folder no warm-up stopped runs at chance after 6 epochs."""
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return 0 if self._epochs() <= SPEECH_EPOCHS else self._epochs() // 5

    def export_form(self, format):
        """ONNX gets the front end's spectrogram as a convolution (`frontend.portable`): onnxruntime
        cannot run the graph tf2onnx makes of Keras' FFT-based layer."""
        return export_lib.Form(frontend.portable(self.model_) if format == "onnx" else self.model_)

    def build_model(self):
        inputs = keras.Input((self._samples(),), name="waveform")
        features = frontend.front_end(
            inputs,
            self.sample_rate_,
            frontend.adapted_normalizer(self.train_waveforms_, self.sample_rate_, self.num_mel_bins),
            tuple(self.augment or ()),
            self.seed,
            self.num_mel_bins,
        )
        frames_and_bins = tuple(features.shape[1:])
        if isinstance(self.backbone, keras.Model):
            backbone = keras.Sequential([backbones_lib.copy_model(self.backbone)], name="backbone")
        elif backbones_lib.BACKBONES.metadata(self.backbone).get("modality") == "image":
            backbone = backbones_lib.BACKBONES.get(self.backbone)(frames_and_bins + (1,), width=self.width)
            features = keras.layers.Reshape(frames_and_bins + (1,), name="as_image")(features)
        else:
            backbone = backbones_lib.BACKBONES.get(self.backbone)(frames_and_bins, width=self.width)
        x = backbone(features)
        if len(x.shape) == 4:
            x = keras.layers.GlobalAveragePooling2D()(x)
        elif len(x.shape) == 3:
            x = keras.layers.GlobalAveragePooling1D()(x)
        x = keras.layers.Dropout(self.dropout)(x)
        outputs = keras.layers.Dense(len(self.classes_), activation="softmax", name="classes", dtype="float32")(x)
        return keras.Model(inputs, outputs, name="speech_classifier")

    # ------------------------------------------------------------- inference

    def predict(self, inputs, sample_rate=None):
        """Classifies recordings.

        Args:
            inputs: a WAV path, a list of paths, or one waveform / a list of waveforms.
            sample_rate: the rate of waveform arrays (default: the model's `sample_rate_`).

        Returns:
            One dict per recording: {"label", "probability", "probabilities": {class: p}}.
        """
        self.check_fitted()
        x = self.preprocessor_.inputs(inputs, sample_rate)
        return self._answers(self._infer(x))

    def search_space(self, hp):
        space = super().search_space(hp)
        space["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
        if isinstance(self.backbone, str):
            space["backbone"] = hp.Choice("backbone", ["vgg", "resnet", "mel_gru"])
            space["width"] = hp.Choice("width", [16, 32, 64])
        return space


def train_speech_classifier(data=None, validation_data=None, **kwargs):
    """Trains a spoken-command classifier in one line and returns the fitted `SpeechClassifier`.

    Args:
        data: a folder of class subfolders of WAV files, a folder of WAV files
            whose names carry the label ("3_jackson_0.wav"), a CSV / TSV
            manifest of path,label, (waveforms, labels, sample_rate), a
            tf.data.Dataset or "tfds:NAME".
        validation_data: same forms; default a seeded split of `data`.
        **kwargs: `SpeechClassifier` arguments (backbone, duration, augment, ...).

    Returns:
        The fitted `SpeechClassifier`; its run is in `clf.run_dir`.

    Examples:
        >>> import tempfile
        >>> rng = np.random.default_rng(0)
        >>> t = np.arange(4000) / 8000
        >>> tones = [np.sin(2 * np.pi * f * t) + 0.1 * rng.normal(size=t.size) for f in [300, 1500] * 20]
        >>> clf = train_speech_classifier((tones, ["low", "high"] * 20, 8000), backbone="lenet", width=8,
        ...                               epochs=5, save_dir=tempfile.mkdtemp(), verbose=0)
        >>> clf.predict(np.sin(2 * np.pi * 300 * t), sample_rate=8000)[0]["label"]
        'low'
    """
    return SpeechClassifier(**kwargs).fit(data, validation_data)
