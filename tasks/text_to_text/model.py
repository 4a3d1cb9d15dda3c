"""Encoder-decoder models the field teaches: {"source": ids, "target": ids} -> next-target-token logits.

Id 0 pads (masked everywhere). The decoder reads the target shifted right (teacher forcing: it
starts with the start token and sees the true previous tokens while training); at generation the
task feeds back its own tokens.
"""

import keras

from toolkit.backbones import BACKBONES


@BACKBONES.register(
    "gru_attention",
    modality="text-to-text",
    description="GRU encoder-decoder with additive (Bahdanau) attention",
)
def gru_attention(vocabulary_size, sequence_length, width=128, depth=1, heads=4, dropout=0.1):
    """A bidirectional GRU encoder; a GRU decoder started from the encoder's final states, reading
    the encoder's outputs through additive attention (Bahdanau et al. 2015) at every step."""
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    x = keras.layers.Embedding(vocabulary_size, width, mask_zero=True, name="source_embedding")(source)
    states = []
    for i in range(depth):
        x, forward, backward = keras.layers.Bidirectional(
            keras.layers.GRU(width, return_sequences=True, return_state=True, dropout=dropout),
            name=f"encoder_{i}",
        )(x)
    states = keras.layers.Dense(width, activation="tanh", name="bridge")(
        keras.layers.Concatenate()([forward, backward])
    )
    memory = keras.layers.Dense(width, name="memory")(x)
    y = keras.layers.Embedding(vocabulary_size, width, mask_zero=True, name="target_embedding")(target)
    for i in range(depth):
        y = keras.layers.GRU(width, return_sequences=True, dropout=dropout, name=f"decoder_{i}")(
            y, initial_state=states
        )
    context = keras.layers.AdditiveAttention(name="attention")([y, memory])
    y = keras.layers.Dense(width, activation="tanh", name="attend")(keras.layers.Concatenate()([y, context]))
    logits = keras.layers.Dense(vocabulary_size, name="next_token", dtype="float32")(y)
    return keras.Model({"source": source, "target": target}, logits, name="gru_attention")


@BACKBONES.register(
    "transformer_seq2seq",
    modality="text-to-text",
    description="Transformer encoder-decoder (KerasHub's TransformerEncoder / TransformerDecoder)",
)
def transformer(vocabulary_size, sequence_length, width=128, depth=2, heads=4, dropout=0.1):
    """Token and position embeddings, `depth` encoder blocks, `depth` decoder blocks (causal
    self-attention, then cross-attention to the encoder), KerasHub's layers (Vaswani et al. 2017)."""
    import keras_hub

    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    # Padding masks passed explicitly (not Keras' implicit masks, which the embedding's sublayers warn about).
    source_mask, target_mask = keras.ops.not_equal(source, 0), keras.ops.not_equal(target, 0)
    x = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size, sequence_length, width, name="source_embedding")(
        source
    )
    for i in range(depth):
        x = keras_hub.layers.TransformerEncoder(width * 2, heads, dropout=dropout, name=f"encoder_{i}")(
            x, padding_mask=source_mask
        )
    y = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size, sequence_length, width, name="target_embedding")(
        target
    )
    for i in range(depth):
        y = keras_hub.layers.TransformerDecoder(width * 2, heads, dropout=dropout, name=f"decoder_{i}")(
            y, x, decoder_padding_mask=target_mask, encoder_padding_mask=source_mask
        )
    logits = keras.layers.Dense(vocabulary_size, name="next_token", dtype="float32")(y)
    return keras.Model({"source": source, "target": target}, logits, name="transformer_seq2seq")
