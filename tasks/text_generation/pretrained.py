"""Pretrained causal language models from KerasHub: a preset name, hub handle, local preset folder or
Hugging Face folder -> the task's model (token ids in, next-token logits out) and the preset's tokenizer.

KerasHub's `CausalLM.from_preset` does the loading and converting (GPT-2, Llama, Gemma, ... and
Hugging Face folders of the architectures it converts); this module only wraps the loaded model so
it trains on the task's windows of token ids like a from-scratch one.
"""

import keras

from toolkit import backbones as backbones_lib
from toolkit import estimator
from toolkit.errors import ToolkitError


def load_causal_lm(preset):
    """`keras_hub.models.CausalLM.from_preset(preset)`, with the toolkit's offline and bad-preset errors."""
    import keras_hub

    try:
        model = backbones_lib.load_preset(preset, "CausalLM")
    except FileNotFoundError as error:
        raise ToolkitError(
            f"{preset!r} is not a KerasHub causal language model preset: {str(error)[:200]}",
            expected="a preset folder written by save_to_preset (config.json, tokenizer.json, ...) or a "
            "Hugging Face model folder of an architecture KerasHub converts (config.json, tokenizer files)",
            fix="pass the folder that holds config.json, or a name from `toolkit list backbones --task "
            "text-generation`",
        ) from None
    except (TypeError, KeyError) as error:  # a backbone whose task is not a causal LM
        raise ToolkitError(
            f"{preset!r} has no causal language model in KerasHub ({type(error).__name__}: {str(error)[:200]}).",
            expected=f"a decoder preset, e.g. one of {sorted(keras_hub.models.CausalLM.presets)[:5]}",
            fix="pick a causal LM preset (GPT-2, Llama, Gemma, ...)",
        ) from None
    if isinstance(model, keras_hub.models.Seq2SeqLM):
        raise ToolkitError(
            f"{preset!r} is an encoder-decoder ({type(model).__name__}), not a decoder-only language model.",
            expected="a decoder-only causal LM preset (GPT-2, Llama, Gemma, ...)",
            fix="pick one of `toolkit list backbones --task text-generation`",
        )
    return model


def check_arguments(uses_preset, finetune, lora_rank):
    """The rules between a text generator's backbone and its fine-tuning arguments."""
    if finetune != "full" and uses_preset:
        raise estimator.invalid_argument(
            "finetune",
            finetune,
            "'full' for a pretrained causal LM (its output layer is its token embedding: there is no "
            "separate head to train alone)",
        )
    if lora_rank is not None and not uses_preset:
        raise estimator.invalid_argument(
            "lora_rank",
            lora_rank,
            "None for a from-scratch model (LoRA adapts a pretrained causal LM: pass a preset as backbone)",
        )


def learning_rate(uses_preset, lora_rank):
    """The default peak learning rate: a pretrained decoder forgets what it knows at a from-scratch rate
    (GPT-2 fine-tuning uses 1e-5 to 1e-4); LoRA's adapters start at zero and train at a higher one (the
    LoRA paper's GPT-2 runs: 2e-4)."""
    if uses_preset:
        return 2e-4 if lora_rank else 5e-5
    return 1e-3


def build(preset, lora_rank, sequence_length):
    """The preset's causal LM (with LoRA adapters of `lora_rank`, if any) as the task's model (`wrap`)."""
    causal_lm = load_causal_lm(preset)
    if lora_rank:
        causal_lm.backbone.enable_lora(lora_rank)
    return wrap(causal_lm, sequence_length)


def causal_presets():
    """KerasHub's decoder-only causal LM presets (its `CausalLM.presets` also lists encoder-decoders)."""
    import keras_hub

    return sorted(set(keras_hub.models.CausalLM.presets) - set(keras_hub.models.Seq2SeqLM.presets))


def wrap(causal_lm, sequence_length):
    """A CausalLM -> a model from token ids (batch, time) to logits (batch, time, vocabulary); every
    position is real text (the task's windows have no padding). The CausalLM keeps its preprocessor,
    so a saved run carries its tokenizer."""
    most = getattr(causal_lm.backbone, "max_sequence_length", None)
    if most is not None and sequence_length > most:
        raise ToolkitError(
            f"sequence_length={sequence_length} is longer than this model's context of {most} tokens.",
            expected=f"sequence_length <= {most}",
            fix=f"pass sequence_length={min(most, 512)} or less",
        )
    if causal_lm.preprocessor is None or getattr(causal_lm.preprocessor, "tokenizer", None) is None:
        raise ToolkitError(
            "This causal LM preset has no tokenizer.",
            expected="a preset with tokenizer.json (and its vocabulary assets)",
            fix="save the preset with its preprocessor (CausalLM.save_to_preset), or use a complete Hugging Face folder",
        )
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    mask = keras.ops.ones_like(inputs, dtype="bool")
    logits = causal_lm({"token_ids": inputs, "padding_mask": mask})
    logits = keras.layers.Activation("linear", dtype="float32", name="next_token")(logits)
    return keras.Model(inputs, logits, name="text_generator")


def keep_lora_only(model):
    """Leaves only the LoRA adapters of a wrapped causal LM trainable (KerasHub's `enable_lora` froze the
    rest, but the toolkit's trainer sets whole groups trainable before each phase; this restores it)."""
    import keras_hub

    for causal_lm in (layer for layer in model._flatten_layers() if isinstance(layer, keras_hub.models.CausalLM)):
        for layer in causal_lm.backbone._flatten_layers(include_self=False):
            adapted = bool(getattr(layer, "lora_enabled", False))
            layer.trainable = adapted
            if adapted:
                layer._kernel.trainable = False  # what Keras' enable_lora does: the base weights stay fixed


def tokenizer_of(model):
    """The KerasHub tokenizer inside a wrapped model (also after the run is saved and loaded)."""
    import keras_hub

    for layer in model._flatten_layers():
        if isinstance(layer, keras_hub.models.CausalLM):
            return layer.preprocessor.tokenizer
    raise ToolkitError(
        "This model holds no KerasHub causal LM.",
        expected="a text generator fine-tuned from a preset",
        fix="train it again with a preset backbone",
    )


def encode(tokenizer, texts):
    """Python strings -> lists of ids (KerasHub tokenizers return lists when called eagerly)."""
    import tensorflow as tf

    ids = tokenizer(tf.constant(list(texts)))
    ids = ids.to_list() if hasattr(ids, "to_list") else ids
    return [[int(i) for i in (row.tolist() if hasattr(row, "tolist") else row)] for row in ids]


def decode(tokenizer, ids):
    text = tokenizer.detokenize([list(map(int, ids))])
    text = text[0] if isinstance(text, (list, tuple)) else text.numpy()[0]
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
