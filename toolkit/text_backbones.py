"""From-scratch text backbones: token ids -> one feature vector per text.

Each builder takes the vocabulary size and sequence length the task chose,
a width and an embedding size, and returns a `keras.Model` named "backbone"
whose input is a (batch, sequence_length) tensor of token ids with 0 as
padding (what `keras.layers.TextVectorization` produces). The embedding
belongs to the backbone, so `finetune="freeze"` freezes it too.
"""

import keras

from toolkit.backbones import BACKBONES


def _token_ids(sequence_length):
    return keras.Input((sequence_length,), dtype="int32", name="token_ids")


# Backbones registered with sequences=True also take `sequences=True`: they then return one feature
# vector per token, (batch, time, features), for tasks that label tokens (question answering's spans),
# and read windows of any length up to `sequence_length`.


@BACKBONES.register("cnn", modality="text", description="1-D CNN over word embeddings (Kim 2014): 3/4/5-grams")
def cnn(vocabulary_size, sequence_length, width=64, embedding_dim=128):
    """Convolutions of widths 3, 4 and 5 over word embeddings, each max-pooled over time (Kim 2014).

    Examples:
        >>> cnn(1000, 32, embedding_dim=16, width=8).output_shape
        (None, 24)
    """
    ids = _token_ids(sequence_length)
    x = keras.layers.Embedding(vocabulary_size, embedding_dim)(ids)
    pooled = []
    for kernel in (3, 4, 5):
        y = keras.layers.Conv1D(width, kernel, padding="same", activation="relu")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D()(y))
    return keras.Model(ids, keras.layers.Concatenate()(pooled), name="backbone")


@BACKBONES.register("bilstm", modality="text", sequences=True, description="bidirectional LSTM over word embeddings")
def bilstm(vocabulary_size, sequence_length, width=64, embedding_dim=128, sequences=False):
    """One bidirectional LSTM layer of `width` units a direction; padding is masked.

    Examples:
        >>> bilstm(1000, 32, embedding_dim=16, width=8).output_shape
        (None, 16)
        >>> bilstm(1000, 32, embedding_dim=16, width=8, sequences=True).output_shape
        (None, None, 16)
    """
    ids = _token_ids(None if sequences else sequence_length)
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True)(ids)
    x = keras.layers.Bidirectional(keras.layers.LSTM(width, return_sequences=sequences))(x)
    return keras.Model(ids, x, name="backbone")


@BACKBONES.register("gru", modality="text", description="GRU over word embeddings")
def gru(vocabulary_size, sequence_length, width=64, embedding_dim=128):
    """One GRU layer of `width` units reading left to right; padding is masked.

    Examples:
        >>> gru(1000, 32, embedding_dim=16, width=8).output_shape
        (None, 8)
    """
    ids = _token_ids(sequence_length)
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True)(ids)
    x = keras.layers.GRU(width)(x)
    return keras.Model(ids, x, name="backbone")


@BACKBONES.register("transformer", modality="text", sequences=True, description="small Transformer encoder (2 layers)")
def transformer(vocabulary_size, sequence_length, width=64, embedding_dim=128, num_layers=2, sequences=False):
    """Token and position embeddings, `num_layers` KerasHub Transformer encoder blocks, masked mean pooling.

    `width` is each block's feed-forward size; attention uses 4 heads when
    `embedding_dim` divides by 4.

    Examples:
        >>> transformer(1000, 32, embedding_dim=16, width=8).output_shape
        (None, 16)
        >>> transformer(1000, 32, embedding_dim=16, width=8, sequences=True).output_shape
        (None, None, 16)
    """
    import keras_hub

    ids = _token_ids(None if sequences else sequence_length)
    padding_mask = keras.ops.not_equal(ids, 0)
    x = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size, sequence_length, embedding_dim)(ids)
    heads = 4 if embedding_dim % 4 == 0 else 1
    for _ in range(num_layers):
        x = keras_hub.layers.TransformerEncoder(intermediate_dim=width, num_heads=heads, dropout=0.1)(
            x, padding_mask=padding_mask
        )
    if sequences:
        return keras.Model(ids, x, name="backbone")
    x = keras.layers.GlobalAveragePooling1D()(x, mask=padding_mask)
    return keras.Model(ids, x, name="backbone")
