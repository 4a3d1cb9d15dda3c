"""Speech-to-text models: the from-scratch CTC recogniser and its decoding to text; a pretrained KerasHub
Moonshine preset, its sample rate, transcription and scores."""

import keras
import numpy as np

from tasks.speech import frontend
from toolkit import backbones as backbones_lib
from toolkit.errors import ToolkitError
from toolkit.metrics import error_rates


def ctc_recognizer(backbone, sample_rate, normalizer, augment, seed, num_mel_bins, num_characters):
    """Raw waveforms of any length -> per-step logits over the characters and CTC's blank (index 0)."""
    inputs = keras.Input((None,), name="waveform")
    features = frontend.front_end(inputs, sample_rate, normalizer, augment, seed, num_mel_bins)
    logits = keras.layers.Dense(num_characters + 1, name="characters", dtype="float32")(backbone(features))
    return keras.Model(inputs, logits, name="speech_recognizer")


def time_stride(backbone, num_mel_bins):
    """Frames per output step of `backbone`, measured by running it on 4 s of frames."""
    probe = 400
    output = backbone(np.zeros((1, probe, num_mel_bins), "float32"))
    if len(output.shape) != 3:
        raise ToolkitError(
            f"The backbone returns shape {tuple(output.shape)}, not a sequence of steps.",
            expected="a model mapping (batch, frames, mel bins) to (batch, steps, features)",
            fix="end the backbone with layers that keep the time axis (return_sequences=True for RNNs)",
        )
    return max(1, round(probe / int(output.shape[1])))


def ctc_texts(logits, steps, vocabulary, decoder="greedy", beam_width=16):
    """Per-step logits (each utterance's first `steps`) -> texts, greedy or by beam search."""
    strategy = "greedy" if decoder == "greedy" else "beam_search"
    decoded, _ = keras.ops.ctc_decode(logits, steps, strategy=strategy, beam_width=beam_width, mask_index=0)
    best = keras.ops.convert_to_numpy(decoded[0])
    texts = ["".join(vocabulary[i - 1] for i in row if 0 < i <= len(vocabulary)) for row in best]
    # A space emitted in the silence before or after speech, or twice between words, is not text.
    return [" ".join(text.split()) for text in texts]


def moonshine_sample_rate(preset):
    """The rate a Moonshine preset's audio converter takes (16 kHz when it names none)."""
    converter = backbones_lib.load_preset(preset, "MoonshineAudioConverter")
    return int(converter.sampling_rate) if converter is not None else 16000


def moonshine(preset):
    """A KerasHub Moonshine model; its preprocessor and `generate` do tokenising and decoding."""
    import keras_hub

    # dtype given explicitly: KerasHub 0.32 fails to read presets whose config stores dtype as a plain string.
    backbone = backbones_lib.load_preset(preset, "backbone", name="backbone", dtype="float32")
    try:
        return keras_hub.models.MoonshineAudioToText.from_preset(preset, backbone=backbone, dtype="float32")
    except ValueError as error:
        raise ToolkitError(
            f"{preset!r} is not a Moonshine audio-to-text preset: {str(error)[:200]}",
            expected="a Moonshine preset (task.json, tokenizer, audio converter), e.g. 'moonshine_base_en'",
            fix="pass a Moonshine preset, or backbone='ctc_gru' to train from scratch",
        ) from error


def moonshine_transcribe(model, padded):
    """Moonshine transcription of a batch of (batch, samples) waveforms, greedy so it repeats."""
    import keras_hub

    if not isinstance(getattr(model, "sampler", None), keras_hub.samplers.GreedySampler):
        # KerasHub's default sampler (top-k) draws at random; a loaded model may carry it.
        model.sampler = keras_hub.samplers.GreedySampler()
        model.generate_function = None
    texts = model.generate({"audio": padded[..., None]})
    return [t.strip() for t in ([texts] if isinstance(texts, str) else texts)]


def moonshine_scores(model, dataset):
    """CER, WER, loss and the first examples of a Moonshine model on batches of ({"audio", "text"},)."""
    truths, guesses = [], []
    for (batch,) in dataset:
        truths += [t.decode() for t in batch["text"].numpy()]
        guesses += moonshine_transcribe(model, batch["audio"].numpy()[..., 0])
    metrics = error_rates(truths, guesses)
    metrics["loss"] = float(model.evaluate(dataset, verbose=0, return_dict=True)["loss"])
    metrics["examples"] = [{"truth": t, "predicted": g} for t, g in list(zip(truths, guesses))[:10]]
    return metrics
