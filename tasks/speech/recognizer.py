"""Speech-to-text: `SpeechRecognizer` and `train_speech_recognizer` (CTC over characters)."""

import os

import keras
import numpy as np

from tasks.speech import audio as audio_lib
from tasks.speech import (
    backbones,  # noqa: F401  (registers ctc_gru and ctc_lstm)
    frontend,
)
from tasks.speech import model as model_lib
from tasks.speech.preprocessor import TRAILING_SILENCE, RecognizerPreprocessor, Recordings, Utterances, transcripts
from tasks.speech.speech_task import SpeechTask
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import estimator, preprocessing
from toolkit import export as export_lib
from toolkit.errors import ToolkitError
from toolkit.metrics import error_rates
from toolkit.preprocessing import Index
from toolkit.saving import register_task

__all__ = ["TRAILING_SILENCE", "SpeechRecognizer", "Utterances", "train_speech_recognizer"]

DECODERS = ("greedy", "beam")


@register_task
class SpeechRecognizer(SpeechTask):
    """Transcribes recordings to text.

    From scratch: a convolutional front end and bidirectional GRU / LSTM
    layers trained with CTC (`keras.losses.CTC`) over the characters of the
    training transcripts. The saved model takes raw waveforms of any length
    at `sample_rate_` and returns per-step character logits; `predict`
    decodes them (`keras.ops.ctc_decode`, greedy or beam search) to text.

    Pretrained: a KerasHub Moonshine `AudioToText` preset by name
    ("moonshine_base_en") or local preset folder, fine-tuned on the data and
    transcribing with its own tokenizer and `generate`.

    Args:
        backbone: "ctc_gru" or "ctc_lstm" (DeepSpeech2-style), a Moonshine
            preset name or folder, or a `keras.Model` mapping (frames, mel
            bins) to per-step features.
        sample_rate: rate to resample to; default: a preset's own rate, else the data's own (the most
            common among the files' headers, ties to the highest; `audio.choose_rate`), printed.
        num_mel_bins: mel filters of the front end.
        width: recurrent units a direction.
        num_layers: recurrent layers.
        augment: training-only augmentation from "shift", "noise", "specaugment".
        decoder: "greedy" or "beam" (beam search of `beam_width`).
        beam_width: beams kept by the beam-search decoder.
        data_dir: TFDS data folder for "tfds:NAME" data.
        epochs: most epochs to train (early stopping may stop sooner); None: 40, raised on a small set
            until a from-scratch network gets 1,000 optimizer steps (at most 200 epochs); early stopping's
            patience and warm-up are a fifth of the budget each.
        batch_size: utterances a step (16).
        **kwargs: the arguments every task shares (epochs, batch_size,
            learning_rate, finetune, tune, save_dir, run_name, ...; see `toolkit.Task`).

    Examples:
        >>> from tasks.speech.digits import digit_strings
        >>> asr = SpeechRecognizer().fit(digit_strings("fsdd/recordings", "train"))  # doctest: +SKIP
        >>> asr.predict(["utterance.wav"])  # doctest: +SKIP
        ['three one four']
    """

    task_name = "speech-recognition"
    description = "transcribe recordings to text (CTC over characters)"
    # epochs=None on FSDD's digit strings (1,000+ utterances): 40 epochs, the budget measured there; a small
    # set gets more (150 utterances, 8 steps an epoch, used all 40 and were still improving).
    budget_epochs = 40
    default_data = None
    data_forms = (
        "a CSV / TSV manifest of path,transcript (WAV paths relative to it; transcripts written as spoken), a "
        "(waveforms, transcripts, sample_rate) tuple, a tf.data.Dataset of (waveform, transcript), 'tfds:NAME', or "
        "a folder of one-word recordings (root/<word>/<name>.wav, or root/<word>_<name>.wav)"
    )
    backbone_filters = ({"modality": "speech-recognition"},)
    keras_hub_task = "MoonshineAudioToText"  # the one AudioToText family KerasHub has
    preprocessor_class = RecognizerPreprocessor
    missing_data = (
        "a manifest of path,transcript, (waveforms, transcripts, sample_rate), or a tf.data.Dataset",
        "pass data=... (e.g. tasks.speech.digits.digit_strings(fsdd_folder) for spoken digit strings)",
    )

    _parameter_constraints = {
        "width": estimator.POSITIVE,
        "num_layers": estimator.POSITIVE,
        "num_mel_bins": estimator.POSITIVE,
        "beam_width": estimator.POSITIVE,
        "sample_rate": estimator.at_least(1, none=True, what="a rate in Hz, e.g. 16000,"),
    }

    def __init__(
        self,
        *,
        backbone: str | keras.Model = "ctc_gru",
        sample_rate: int | None = None,
        num_mel_bins: int = 40,
        width: int = 128,
        num_layers: int = 3,
        augment: tuple[str, ...] = ("specaugment",),
        decoder: str = "greedy",
        beam_width: int = 16,
        data_dir: str | os.PathLike | None = None,
        epochs: int | None = None,
        batch_size: int = 16,
        **kwargs,
    ):
        super().__init__(epochs=epochs, batch_size=batch_size, **kwargs)
        self.backbone = backbone
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.width = width
        self.num_layers = num_layers
        self.augment = augment
        self.decoder = decoder
        self.beam_width = beam_width
        self.data_dir = data_dir

    # ------------------------------------------------------------------- data
    def _check_combinations(self):
        super()._check_combinations()
        if self.decoder not in DECODERS:
            raise ToolkitError(
                f"decoder={self.decoder!r} is not valid.", expected=f"one of {DECODERS}", fix="pass decoder="
            )

    def read_data(self, data):
        audio, texts, rate = audio_lib.load_source(data, None, self.data_dir, self.data_forms)
        texts = transcripts(texts)
        return Index(Recordings(audio, rate), texts, np.zeros(len(texts), int), data_lib.describe(data))

    def make_preprocessor(self):
        if self._uses_preset():
            rate, asked = self._preset_sample_rate(), "the rate the pretrained preset was trained at"
            return RecognizerPreprocessor(sample_rate=rate, asked=asked, preset=True)
        self.time_stride_ = model_lib.time_stride(self._backbone(), self.num_mel_bins)
        return RecognizerPreprocessor(sample_rate=self.sample_rate, time_stride=self.time_stride_)

    def prepare_data(self, data, validation_data):
        splits = super().prepare_data(data, validation_data)
        info = splits.info
        self.say(
            f"Speech recognition: {len(self.vocabulary_)} characters, {self.preprocessor_.train_seconds / 60:.1f} min "
            f"of training audio at {self.sample_rate_} Hz; {info['train_examples']} train / "
            f"{info['validation_examples']} validation / {info['test_examples']} test utterances."
        )
        return splits

    # What was learned lives in the preprocessor; these are its scikit-learn-style names.
    vocabulary_ = preprocessing.learned("vocabulary")
    train_waveforms_ = property(lambda self: self.preprocessor_.train_waveforms, doc="The normaliser's sample.")

    def _margin(self):
        return 0 if self._uses_preset() else int(TRAILING_SILENCE * self.sample_rate_)

    def _output_steps(self, samples):
        frames = samples // (self.sample_rate_ // 100) + 1  # 10 ms hops (frontend.mel_settings)
        return -(-frames // self.time_stride_)

    def keras_data(self, part):
        return part.dataset

    # ------------------------------------------------------------------ model
    def export_form(self, format):
        """ONNX gets the front end's spectrogram as a convolution (`frontend.portable`): onnxruntime
        cannot run the graph tf2onnx makes of Keras' FFT-based layer."""
        return export_lib.Form(frontend.portable(self.model_) if format == "onnx" else self.model_)

    def _preset_sample_rate(self):
        return model_lib.moonshine_sample_rate(self.backbone)

    def build_model(self):
        if self._uses_preset():
            return model_lib.moonshine(self.backbone)
        normalizer = frontend.adapted_normalizer(self.train_waveforms_, self.sample_rate_, self.num_mel_bins, most=500)
        return model_lib.ctc_recognizer(
            self._backbone(), self.sample_rate_, normalizer, tuple(self.augment or ()), self.seed, self.num_mel_bins,
            len(self.vocabulary_),
        )  # fmt: skip

    def _backbone(self):
        if isinstance(self.backbone, keras.Model):
            return keras.Sequential([backbones_lib.copy_model(self.backbone)], name="backbone")
        builder = backbones_lib.BACKBONES.get(self.backbone)
        return builder((None, self.num_mel_bins), width=self.width, num_layers=self.num_layers)

    def training_loss(self):
        if self._uses_preset():  # next-token logits, weighted by the preprocessor's padding mask
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return keras.losses.CTC()

    def training_metrics(self):
        return []

    # ------------------------------------------------------------- inference
    def _decode(self, logits, samples):
        steps = np.minimum([self._output_steps(n) for n in samples], logits.shape[1]).astype("int32")
        return model_lib.ctc_texts(logits, steps, self.vocabulary_, self.decoder, self.beam_width)

    def _transcribe_batches(self, batches):
        """Decodes each utterance at its true length (as `predict` does) and pairs it with its reference."""
        truths, guesses, losses, count = [], [], [], 0
        loss_fn = keras.losses.CTC(reduction="sum")
        for padded, labels, lengths, texts in batches:
            logits = self._infer(padded)
            guesses += self._decode(logits, [int(n) + self._margin() for n in lengths.numpy()])
            truths += [t.decode() for t in texts.numpy()]
            losses.append(float(loss_fn(labels, logits)))
            count += len(texts)
        return truths, guesses, sum(losses) / max(count, 1)

    def compile_model(self, model, make_optimizer):
        if not self._uses_preset():
            return super().compile_model(model, make_optimizer)
        model.compile(optimizer=make_optimizer(), loss=self.training_loss(), sampler="greedy")

    def report_figures(self):
        """Reference and transcript of the first test (else validation) recordings, errors marked."""
        from toolkit import figures

        split = "test" if (self.metrics_ or {}).get("test") else "validation"
        examples = ((self.metrics_ or {}).get(split) or {}).get("examples")
        return [(f"Transcripts ({split})", figures.transcripts_table(examples))] if examples else []

    def score(self, utterances):
        if self._uses_preset():
            return model_lib.moonshine_scores(self.model_, utterances.dataset)
        truths, guesses, loss = self._transcribe_batches(utterances.batches)
        metrics = error_rates(truths, guesses)
        metrics["loss"] = loss
        metrics["examples"] = [{"truth": t, "predicted": g} for t, g in list(zip(truths, guesses))[:10]]
        return metrics

    def predict(self, inputs, sample_rate=None):
        """Transcribes recordings.

        Args:
            inputs: a WAV path, a list of paths, or one waveform / a list of waveforms.
            sample_rate: the rate of waveform arrays (default: the model's `sample_rate_`).

        Returns:
            A list of transcripts (str).
        """
        self.check_fitted()
        if isinstance(inputs, (str, os.PathLike)) or (isinstance(inputs, np.ndarray) and inputs.ndim == 1):
            inputs = [inputs]
        waves = audio_lib.waveforms(list(inputs), sample_rate or self.sample_rate_, self.sample_rate_)
        texts = []
        for start in range(0, len(waves), self._batch_size()):
            batch = waves[start : start + self._batch_size()]
            if self._uses_preset():
                texts += model_lib.moonshine_transcribe(
                    self.model_, audio_lib.fix_length(batch, max(len(w) for w in batch))
                )
            else:
                padded = audio_lib.fix_length(batch, max(len(w) for w in batch) + self._margin())
                logits = self._infer(padded)
                texts += self._decode(logits, [len(w) + self._margin() for w in batch])
        return texts

    def search_space(self, hp):
        space = super().search_space(hp)
        space["width"] = hp.Choice("width", [64, 128, 192])
        space["num_layers"] = hp.Int("num_layers", 2, 4)
        return space


def train_speech_recognizer(data=None, validation_data=None, **kwargs):
    """Trains a speech recognizer in one line and returns the fitted `SpeechRecognizer`.

    Args:
        data: a CSV / TSV manifest of path,transcript, (waveforms, transcripts,
            sample_rate), or a tf.data.Dataset of (waveform, transcript).
        validation_data: same forms; default a seeded split of `data`.
        **kwargs: `SpeechRecognizer` arguments (backbone, width, decoder, ...).

    Returns:
        The fitted `SpeechRecognizer`; its run is in `asr.run_dir`.

    Examples:
        >>> from tasks.speech.digits import digit_strings
        >>> asr = train_speech_recognizer(digit_strings("fsdd/recordings", "train"))  # doctest: +SKIP
        >>> asr.metrics_["test"]["cer"]  # doctest: +SKIP
        0.04...
    """
    return SpeechRecognizer(**kwargs).fit(data, validation_data)
