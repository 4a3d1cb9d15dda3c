"""Speech-to-text: `SpeechRecognizer` and `train_speech_recognizer` (CTC over characters)."""

import collections
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from tasks.speech import audio as audio_lib
from tasks.speech import (
    frontend,
    models,  # noqa: F401  (registers ctc_gru and ctc_lstm)
)
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import distribute, estimator, image_streams
from toolkit import export as export_lib
from toolkit import splits as splits_lib
from toolkit.errors import ToolkitError
from toolkit.metrics import error_rates
from toolkit.saving import register_task
from toolkit.task import Task

DECODERS = ("greedy", "beam")
# Silence appended to every utterance, in training and inference alike. CTC often emits a word's last
# character a few steps after the sound ends; without room after the end, transcripts lost it
# ("three" -> "thre": WER 0.20 on FSDD digit strings; 0.006 with this margin, same trained model).
TRAILING_SILENCE = 0.25

# A split part: the Keras view (batches of (waveforms, CTC labels)) and, per batch, what scoring needs
# beyond it: each utterance's true length in samples and its reference transcript as written.
Utterances = collections.namedtuple("Utterances", ["dataset", "batches"])


@register_task
class SpeechRecognizer(Task):
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
    # set gets more (150 utterances, 8 steps an epoch, used all 40 and were still improving: RESULTS.md).
    budget_epochs = 40
    default_data = None
    data_forms = (
        "a CSV / TSV manifest of path,transcript (WAV paths relative to it; transcripts written as spoken), a "
        "(waveforms, transcripts, sample_rate) tuple, a tf.data.Dataset of (waveform, transcript), or 'tfds:NAME'"
    )
    backbone_filters = ({"modality": "speech-recognition"},)
    keras_hub_task = "MoonshineAudioToText"  # the one AudioToText family KerasHub has
    unsaved_attributes = Task.unsaved_attributes + ("train_waveforms_",)

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
    def prepare_data(self, data, validation_data):
        self._check_backbone()
        if self.decoder not in DECODERS:
            raise ToolkitError(
                f"decoder={self.decoder!r} is not valid.", expected=f"one of {DECODERS}", fix="pass decoder="
            )
        frontend.check(self.augment)
        if data is None:
            raise ToolkitError(
                "No training data was given, and speech recognition has no built-in dataset.",
                expected="a manifest of path,transcript, (waveforms, transcripts, sample_rate), or a tf.data.Dataset",
                fix="pass data=... (e.g. tasks.speech.digits.digit_strings(fsdd_folder) for spoken digit strings)",
            )
        self._files = []
        audio, texts, rate = audio_lib.load_source(data, None, self.data_dir)
        texts = _transcripts(texts)
        if self._uses_preset():
            wanted, asked = self._preset_sample_rate(), "the rate the pretrained preset was trained at"
        else:
            wanted, asked = self.sample_rate, "as asked (sample_rate=)"
        self.sample_rate_ = audio_lib.choose_rate(audio, rate, wanted, say=self.say, asked=asked)
        # The index (WAV paths, in-memory waveforms or a stream) and each recording's length, from
        # file headers or one pass: the recordings themselves are read inside tf.data.
        recordings = audio_lib.index(audio, rate, self.sample_rate_)
        lengths = audio_lib.lengths(recordings, rate, self.sample_rate_)
        if not self._uses_preset():
            self.time_stride_ = self._time_stride(self._backbone())
            self._check_lengths(lengths, texts)
        no_classes = lambda n: np.zeros(n, dtype=int)  # noqa: E731  (transcripts: nothing to stratify by)
        validation = None
        if validation_data is not None:
            val_part = self._index(validation_data)
            validation = ([np.arange(len(val_part[2]))], no_classes(len(val_part[2])))
        ((train,), _), ((val,), _), test, info = splits_lib.holdout(
            [np.arange(len(texts))],
            no_classes(len(texts)),
            validation=validation,
            validation_source=data_lib.describe(validation_data),
            **self._split_options(),
        )
        take = lambda positions: (  # noqa: E731
            data_lib.take(recordings, positions),
            [lengths[i] for i in positions],
            [texts[i] for i in positions],
            rate,
        )
        train = take(train)
        val_part = val_part if validation is not None else take(val)
        test_part = None if test is None else take(test[0][0])
        # The characters come from the training part only; held-out transcripts are scored as written.
        self.vocabulary_ = sorted(set("".join(train[2])))
        self._warn_unknown_characters(val_part[2] + ([] if test_part is None else test_part[2]), "held-out")
        # The front end's normalisation is learned from a bounded sample of the training recordings.
        self.train_waveforms_ = audio_lib.sample_waves(train[0], rate, self.sample_rate_, most=500)
        info = {"train_source": data_lib.describe(data), **info}
        seconds = sum(train[1]) / self.sample_rate_
        self.say(
            f"Speech recognition: {len(self.vocabulary_)} characters, {seconds / 60:.1f} min of training audio at "
            f"{self.sample_rate_} Hz; {info['train_examples']} train / {info['validation_examples']} validation / "
            f"{info['test_examples']} test utterances."
        )
        return data_lib.Splits(
            train=self._dataset(*train, shuffle=True),
            validation=self._dataset(*val_part),
            test=None if test_part is None else self._dataset(*test_part),
            info=info,
        )

    def _warn_unknown_characters(self, texts, which):
        unknown = sorted(set("".join(texts)) - set(self.vocabulary_))
        if unknown:
            warnings.warn(
                f"Characters {unknown} of the {which} transcripts do not occur in the training transcripts: the "
                "model cannot produce them, and they count as errors in CER / WER.",
                stacklevel=3,
            )

    def _check_lengths(self, lengths, texts):
        """CTC needs at least one output step per character (two for repeated ones)."""
        steps = [self._output_steps(n) for n in lengths]
        short = [i for i, (n, t) in enumerate(zip(steps, texts)) if n < len(t) + sum(a == b for a, b in zip(t, t[1:]))]
        if short:
            raise ToolkitError(
                f"{len(short)} recordings are too short for their transcripts (e.g. #{short[0]}: "
                f"{lengths[short[0]] / self.sample_rate_:.2f} s for {texts[short[0]]!r}).",
                expected=f"at least about {10 * self.time_stride_} ms of audio per character",
                fix="check the pairing of recordings and transcripts",
            )

    def _margin(self):
        return 0 if self._uses_preset() else int(TRAILING_SILENCE * self.sample_rate_)

    def _output_steps(self, samples):
        frames = samples // (self.sample_rate_ // 100) + 1  # 10 ms hops (frontend.mel_settings)
        return -(-frames // self.time_stride_)

    def _time_stride(self, backbone):
        """Frames per output step of `backbone`, measured by running it on 4 s of frames."""
        probe = 400
        output = backbone(np.zeros((1, probe, self.num_mel_bins), "float32"))
        if len(output.shape) != 3:
            raise ToolkitError(
                f"The backbone returns shape {tuple(output.shape)}, not a sequence of steps.",
                expected="a model mapping (batch, frames, mel bins) to (batch, steps, features)",
                fix="end the backbone with layers that keep the time axis (return_sequences=True for RNNs)",
            )
        return max(1, round(probe / int(output.shape[1])))

    def _index(self, data):
        """Any accepted data form -> (its index at the model's rate, lengths, transcripts, the source's rate)."""
        audio, texts, rate = audio_lib.load_source(data, None, self.data_dir)
        recordings = audio_lib.index(audio, rate, self.sample_rate_)
        return recordings, audio_lib.lengths(recordings, rate, self.sample_rate_), _transcripts(texts), rate

    def _encode(self, text):
        index = {c: i + 1 for i, c in enumerate(self.vocabulary_)}  # 0 is CTC's blank
        return [index[c] for c in text if c in index]

    def _dataset(self, recordings, lengths, texts, rate, shuffle=False):
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
        labels = [self._encode(t) for t in texts] if not self._uses_preset() else [[0]] * len(texts)
        margin = self._margin()
        width = max(1, max(len(label) for label in labels))
        label_matrix = np.zeros((len(labels), width), np.int32)
        for row, label in enumerate(labels):
            label_matrix[row, : len(label)] = label
        label_lengths = np.array([max(1, len(label)) for label in labels], np.int32)
        table = (
            tf.constant(label_matrix), tf.constant(label_lengths), tf.constant(np.asarray(lengths, np.int32)),
            tf.constant(list(texts), tf.string),
        )  # fmt: skip
        shapes = ([None], [None], [], [])
        batch_size = self._global_batch_size()
        if isinstance(recordings, data_lib.Stream):
            waves = audio_lib.waveform_dataset(recordings, rate, self.sample_rate_)
            examples = tf.data.Dataset.zip((waves, tf.data.Dataset.range(len(texts)))).map(
                lambda wave, i: (wave, table[0][i][: table[1][i]], table[2][i], table[3][i])
            )
            if shuffle:
                examples = examples.shuffle(min(len(texts), 1000), seed=self.seed, reshuffle_each_iteration=True)
            edges = sorted(set(np.percentile(lengths, np.linspace(10, 90, 9)).astype(int).tolist()))
            batches = examples.bucket_by_sequence_length(
                lambda wave, *rest: tf.shape(wave)[0], edges, [batch_size] * (len(edges) + 1),
                padded_shapes=shapes,
            )  # fmt: skip
        else:
            if isinstance(recordings, np.ndarray) and recordings.dtype.kind in "US":
                self._files = getattr(self, "_files", []) + recordings.tolist()
            order = np.argsort(lengths, kind="stable")
            count = -(-len(order) // batch_size)
            decode = self._decoder(recordings, rate, table)
            fits = not isinstance(recordings, np.ndarray) or sum(lengths) * 4 <= image_streams.MEMORY_CACHE_BYTES
            if fits:
                batches = tf.data.Dataset.from_tensor_slices(order).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
                batches = batches.padded_batch(batch_size, padded_shapes=shapes).cache()
                if shuffle:
                    batches = batches.shuffle(count, seed=self.seed, reshuffle_each_iteration=True)
            else:
                groups = tf.ragged.constant([order[i : i + batch_size] for i in range(0, len(order), batch_size)])
                ids = tf.data.Dataset.range(count)
                if shuffle:
                    ids = ids.shuffle(count, seed=self.seed, reshuffle_each_iteration=True)
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
        if self._uses_preset():  # KerasHub's preprocessor tokenises the text itself
            keras_view = batches.map(lambda a, labels, n, t: ({"audio": a[..., None], "text": t},))
        else:
            keras_view = batches.map(lambda a, labels, n, t: (a, labels))
        return Utterances(keras_view.prefetch(tf.data.AUTOTUNE), batches.prefetch(tf.data.AUTOTUNE))

    def _decoder(self, recordings, rate, table):
        """A tf function: a position of the index -> (waveform, label ids, length, transcript)."""
        if isinstance(recordings, np.ndarray) and recordings.dtype.kind in "US":
            read = lambda i: audio_lib.read_wav(recordings[int(i)], self.sample_rate_)[0]  # noqa: E731
        else:
            read = lambda i: np.asarray(recordings[int(i)], np.float32)  # noqa: E731

        def decode(i):
            wave = tf.numpy_function(read, [i], tf.float32, stateful=False)
            wave = tf.debugging.check_numerics(tf.ensure_shape(wave, (None,)), "toolkit: a waveform holds NaN")
            return wave, table[0][i][: table[1][i]], table[2][i], table[3][i]

        return decode

    def keras_data(self, part):
        return part.dataset

    def explain_data_error(self, error):
        found = audio_lib.find_unreadable(getattr(self, "_files", []), self.sample_rate_)
        return found[0] if found else None

    def evaluation_data(self, data):
        self._files = []
        recordings, lengths, texts, rate = self._index(data)
        self._warn_unknown_characters(texts, "evaluation")
        return self._dataset(recordings, lengths, texts, rate)

    # ------------------------------------------------------------------ model
    def _preset_sample_rate(self):
        converter = backbones_lib.load_preset(self.backbone, "MoonshineAudioConverter")
        return int(converter.sampling_rate) if converter is not None else 16000

    def _build_preset_model(self):
        """A KerasHub Moonshine model; its preprocessor and `generate` do tokenising and decoding."""
        import keras_hub

        # dtype given explicitly: KerasHub 0.32 fails to read presets whose config stores dtype as a plain string.
        backbone = backbones_lib.load_preset(self.backbone, "backbone", name="backbone", dtype="float32")
        try:
            return keras_hub.models.MoonshineAudioToText.from_preset(self.backbone, backbone=backbone, dtype="float32")
        except ValueError as error:
            raise ToolkitError(
                f"{self.backbone!r} is not a Moonshine audio-to-text preset: {str(error)[:200]}",
                expected="a Moonshine preset (task.json, tokenizer, audio converter), e.g. 'moonshine_base_en'",
                fix="pass a Moonshine preset, or backbone='ctc_gru' to train from scratch",
            ) from error

    def export_form(self, format):
        """ONNX gets the front end's spectrogram as a convolution (`frontend.portable`): onnxruntime
        cannot run the graph tf2onnx makes of Keras' FFT-based layer."""
        return export_lib.Form(frontend.portable(self.model_) if format == "onnx" else self.model_)

    def build_model(self):
        if self._uses_preset():
            return self._build_preset_model()
        inputs = keras.Input((None,), name="waveform")
        features = frontend.front_end(
            inputs,
            self.sample_rate_,
            frontend.adapted_normalizer(self.train_waveforms_, self.sample_rate_, self.num_mel_bins, most=500),
            tuple(self.augment or ()),
            self.seed,
            self.num_mel_bins,
        )
        x = self._backbone()(features)
        logits = keras.layers.Dense(len(self.vocabulary_) + 1, name="characters", dtype="float32")(x)
        return keras.Model(inputs, logits, name="speech_recognizer")

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
        strategy = "greedy" if self.decoder == "greedy" else "beam_search"
        decoded, _ = keras.ops.ctc_decode(logits, steps, strategy=strategy, beam_width=self.beam_width, mask_index=0)
        best = keras.ops.convert_to_numpy(decoded[0])
        texts = ["".join(self.vocabulary_[i - 1] for i in row if 0 < i <= len(self.vocabulary_)) for row in best]
        # A space emitted in the silence before or after speech, or twice between words, is not text.
        return [" ".join(text.split()) for text in texts]

    def _transcribe_batches(self, batches):
        """Decodes each utterance at its true length (as `predict` does) and pairs it with its reference."""
        truths, guesses, losses, count = [], [], [], 0
        loss_fn = keras.losses.CTC(reduction="sum")
        for padded, labels, lengths, texts in batches:
            logits = distribute.predict_on_batch(self.model_, padded)
            guesses += self._decode(logits, [int(n) + self._margin() for n in lengths.numpy()])
            truths += [t.decode() for t in texts.numpy()]
            losses.append(float(loss_fn(labels, logits)))
            count += len(texts)
        return truths, guesses, sum(losses) / max(count, 1)

    def compile_model(self, model, make_optimizer):
        if not self._uses_preset():
            return super().compile_model(model, make_optimizer)
        model.compile(optimizer=make_optimizer(), loss=self.training_loss(), sampler="greedy")

    def _generate(self, padded):
        """Moonshine transcription of a batch of (batch, samples) waveforms, greedy so it repeats."""
        import keras_hub

        if not isinstance(getattr(self.model_, "sampler", None), keras_hub.samplers.GreedySampler):
            # KerasHub's default sampler (top-k) draws at random; a loaded model may carry it.
            self.model_.sampler = keras_hub.samplers.GreedySampler()
            self.model_.generate_function = None
        texts = self.model_.generate({"audio": padded[..., None]})
        return [t.strip() for t in ([texts] if isinstance(texts, str) else texts)]

    def _evaluate_preset(self, utterances):
        dataset = utterances.dataset
        truths, guesses = [], []
        for (batch,) in dataset:
            truths += [t.decode() for t in batch["text"].numpy()]
            guesses += self._generate(batch["audio"].numpy()[..., 0])
        metrics = error_rates(truths, guesses)
        metrics["loss"] = float(self.model_.evaluate(dataset, verbose=0, return_dict=True)["loss"])
        metrics["examples"] = [{"truth": t, "predicted": g} for t, g in list(zip(truths, guesses))[:10]]
        return metrics

    def report_figures(self):
        """Reference and transcript of the first test (else validation) recordings, errors marked."""
        from toolkit import figures

        split = "test" if (self.metrics_ or {}).get("test") else "validation"
        examples = ((self.metrics_ or {}).get(split) or {}).get("examples")
        return [(f"Transcripts ({split})", figures.transcripts_table(examples))] if examples else []

    def score(self, utterances):
        if self._uses_preset():
            return self._evaluate_preset(utterances)
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
                texts += self._generate(audio_lib.fix_length(batch, max(len(w) for w in batch)))
            else:
                padded = audio_lib.fix_length(batch, max(len(w) for w in batch) + self._margin())
                logits = distribute.predict_on_batch(self.model_, padded)
                texts += self._decode(logits, [len(w) + self._margin() for w in batch])
        return texts

    def search_space(self, hp):
        space = super().search_space(hp)
        space["width"] = hp.Choice("width", [64, 128, 192])
        space["num_layers"] = hp.Int("num_layers", 2, 4)
        return space


def _transcripts(values):
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
