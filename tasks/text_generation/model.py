"""From-scratch language-model backbones: token ids (batch, time) -> hidden states (batch, time, width).

The task adds the next-token layer. Each takes the same sizes, so the tuner
and the command line treat them alike: `width` (embedding and hidden size),
`depth` (layers), `heads` (GPT only), `dropout`.
"""

import keras

from toolkit import backbones as backbones_lib
from toolkit.backbones import BACKBONES


@keras.saving.register_keras_serializable(package="toolkit")
def gelu_tanh(x):
    """GELU's tanh approximation, GPT-2's own; unlike the exact form (erf), ONNX runtimes carry it."""
    return keras.activations.gelu(x, approximate=True)


def _recurrent(layer_class, vocabulary_size, sequence_length, width, depth, heads, dropout):
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocabulary_size, width, name="embedding")(inputs)
    for i in range(depth):
        x = layer_class(width, return_sequences=True, name=f"recurrent_{i}")(x)
        x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, x, name="backbone")


@BACKBONES.register("lstm_lm", modality="text-generation", description="stacked LSTM language model (char-RNN)")
def lstm_lm(vocabulary_size, sequence_length, width=256, depth=2, heads=4, dropout=0.1):
    """Embedding, then `depth` LSTM layers of `width` units with dropout between them (Karpathy's char-RNN).

    Examples:
        >>> lstm_lm(50, 32, width=16, depth=1).output_shape
        (None, None, 16)
    """
    return _recurrent(keras.layers.LSTM, vocabulary_size, sequence_length, width, depth, heads, dropout)


@BACKBONES.register("gru_lm", modality="text-generation", description="stacked GRU language model")
def gru_lm(vocabulary_size, sequence_length, width=256, depth=2, heads=4, dropout=0.1):
    """Embedding, then `depth` GRU layers of `width` units with dropout between them.

    Examples:
        >>> gru_lm(50, 32, width=16, depth=1).output_shape
        (None, None, 16)
    """
    return _recurrent(keras.layers.GRU, vocabulary_size, sequence_length, width, depth, heads, dropout)


@BACKBONES.register("gpt", modality="text-generation", description="GPT-style decoder: causal self-attention blocks")
def gpt(vocabulary_size, sequence_length, width=256, depth=2, heads=4, dropout=0.1):
    """Token and position embeddings, then `depth` pre-norm causal self-attention blocks (KerasHub's
    `TransformerDecoder` without cross-attention, GPT-2's layout) and a final layer norm.

    Examples:
        >>> gpt(50, 32, width=16, depth=1, heads=2).output_shape
        (None, None, 16)
    """
    import keras_hub

    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    x = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size, sequence_length, width, name="embedding")(inputs)
    x = keras.layers.Dropout(dropout)(x)
    for i in range(depth):
        x = keras_hub.layers.TransformerDecoder(
            intermediate_dim=4 * width,
            num_heads=heads,
            dropout=dropout,
            activation=gelu_tanh,
            normalize_first=True,
            name=f"block_{i}",
        )(x)  # no encoder sequence: self-attention only, with a causal mask
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    return keras.Model(inputs, x, name="backbone")


def build(backbone, vocabulary_size, sequence_length, **sizes):
    """The language model: token ids -> next-token logits, on a registered backbone (built with `sizes`) or
    a copy of the user's `keras.Model` (token ids -> features)."""
    if isinstance(backbone, keras.Model):
        backbone = keras.Sequential([backbones_lib.copy_model(backbone)], name="backbone")
    else:
        backbone = BACKBONES.get(backbone)(vocabulary_size, sequence_length, **sizes)
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    logits = keras.layers.Dense(vocabulary_size, name="next_token", dtype="float32")(backbone(inputs))
    return keras.Model(inputs, logits, name="text_generator")
