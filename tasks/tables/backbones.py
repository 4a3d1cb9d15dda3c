"""From-scratch table backbones: (numbers, category indices) -> one feature vector per row.

Each builder takes how many numbers the encoder gives, the distinct indices of each categorical
column, a width, a depth and a dropout rate, and returns a `keras.Model` named "backbone" over two
inputs, `numbers` (batch, num_numeric) and `categories` (batch, len(cardinalities)) of int32.
The three are the ones Gorishniy et al. (2021, "Revisiting Deep Learning Models for Tabular Data")
compare: an MLP, a ResNet of MLP blocks, and FT-Transformer.
"""

import keras

from toolkit.backbones import BACKBONES


def _inputs(num_numeric, cardinalities):
    return (
        keras.Input((num_numeric,), name="numbers"),
        keras.Input((len(cardinalities),), dtype="int32", name="categories"),
    )


def embedding_size(cardinality):
    """fastai's rule of thumb for a category's embedding size (at most 16 here: small tables).

    Examples:
        >>> embedding_size(3), embedding_size(1000)
        (3, 16)
    """
    return int(min(16, round(1.6 * cardinality**0.56)))


def _flat_features(numbers, categories, cardinalities):
    """The numbers and an embedding of each categorical column, side by side."""
    parts = [numbers] if numbers.shape[-1] else []
    for i, cardinality in enumerate(cardinalities):
        embedding = keras.layers.Embedding(cardinality, embedding_size(cardinality), name=f"embedding_{i}")
        parts.append(embedding(categories[:, i]))
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)


@BACKBONES.register("mlp", modality="table", description="fully connected layers over numbers and category embeddings")
def mlp(num_numeric, cardinalities, width=128, depth=1, dropout=0.1):
    """`depth` Dense-ReLU-Dropout layers of `width` units over the numbers and an embedding per category.

    Examples:
        >>> mlp(4, [3, 5], width=16).output_shape
        (None, 16)
    """
    numbers, categories = _inputs(num_numeric, cardinalities)
    x = _flat_features(numbers, categories, cardinalities)
    for i in range(depth):
        x = keras.layers.Dense(width, activation="relu", name=f"dense_{i}")(x)
        x = keras.layers.Dropout(dropout)(x)
    return keras.Model([numbers, categories], x, name="backbone")


@BACKBONES.register("resmlp", modality="table", description="residual MLP blocks with batch normalisation (ResNet)")
def resmlp(num_numeric, cardinalities, width=128, depth=2, dropout=0.1):
    """Gorishniy et al.'s ResNet: a projection to `width`, then `depth` blocks of
    x + Dropout(Dense(Dropout(ReLU(Dense(BatchNorm(x)))))), then BatchNorm and ReLU.

    Examples:
        >>> resmlp(4, [3], width=16).output_shape
        (None, 16)
    """
    numbers, categories = _inputs(num_numeric, cardinalities)
    x = keras.layers.Dense(width, name="projection")(_flat_features(numbers, categories, cardinalities))
    for i in range(depth):
        y = keras.layers.BatchNormalization(momentum=0.9, name=f"block_{i}_norm")(x)
        y = keras.layers.Dense(2 * width, activation="relu", name=f"block_{i}_dense_1")(y)
        y = keras.layers.Dropout(dropout)(y)
        y = keras.layers.Dense(width, name=f"block_{i}_dense_2")(y)
        x = keras.layers.Add()([x, keras.layers.Dropout(dropout)(y)])
    x = keras.layers.BatchNormalization(momentum=0.9, name="final_norm")(x)
    return keras.Model([numbers, categories], keras.layers.ReLU()(x), name="backbone")


@keras.saving.register_keras_serializable(package="toolkit")
class FeatureTokens(keras.layers.Layer):
    """FT-Transformer's feature tokenizer: number j -> x_j * W_j + b_j, category j -> its embedding + b_j,
    and a learned [CLS] token first: (batch, 1 + features, dim). No Keras layer embeds numbers this way."""

    def __init__(self, num_numeric, cardinalities, dim, **kwargs):
        super().__init__(**kwargs)
        self.num_numeric, self.cardinalities, self.dim = num_numeric, list(cardinalities), dim
        self.embeddings = [keras.layers.Embedding(c, dim, name=f"category_{i}") for i, c in enumerate(cardinalities)]

    def build(self, input_shape):
        init = keras.initializers.RandomUniform(-(self.dim**-0.5), self.dim**-0.5)
        self.number_weight = self.add_weight(shape=(self.num_numeric, self.dim), initializer=init, name="number_weight")
        features = self.num_numeric + len(self.cardinalities)
        self.bias = self.add_weight(shape=(features, self.dim), initializer=init, name="bias")
        self.cls = self.add_weight(shape=(1, 1, self.dim), initializer=init, name="cls")
        for embedding in self.embeddings:
            embedding.build((None,))

    def call(self, numbers, categories):
        tokens = [keras.ops.expand_dims(numbers, -1) * self.number_weight] if self.num_numeric else []
        if self.cardinalities:
            tokens.append(keras.ops.stack([e(categories[:, i]) for i, e in enumerate(self.embeddings)], axis=1))
        x = keras.ops.concatenate(tokens, axis=1) + self.bias
        cls = keras.ops.tile(self.cls, [keras.ops.shape(x)[0], 1, 1])
        return keras.ops.concatenate([cls, x], axis=1)

    def get_config(self):
        return {**super().get_config(), "num_numeric": self.num_numeric, "cardinalities": self.cardinalities,
                "dim": self.dim}  # fmt: skip


@BACKBONES.register("ft_transformer", modality="table", description="FT-Transformer: attention over feature tokens")
def ft_transformer(num_numeric, cardinalities, width=128, depth=2, dropout=0.1, embedding_dim=32):
    """FT-Transformer (Gorishniy et al. 2021): every feature a token of `embedding_dim`, a [CLS] token,
    `depth` pre-norm Transformer blocks (KerasHub's encoder, feed-forward `width`), the [CLS] output.

    Examples:
        >>> ft_transformer(4, [3], width=16, embedding_dim=8).output_shape
        (None, 8)
    """
    import keras_hub

    numbers, categories = _inputs(num_numeric, cardinalities)
    x = FeatureTokens(num_numeric, cardinalities, embedding_dim, name="tokens")(numbers, categories)
    heads = 8 if embedding_dim % 8 == 0 else 1
    for i in range(depth):
        x = keras_hub.layers.TransformerEncoder(width, heads, dropout=dropout, normalize_first=True, name=f"block_{i}")(
            x
        )
    x = keras.layers.LayerNormalization(name="final_norm")(x[:, 0])
    return keras.Model([numbers, categories], keras.layers.ReLU()(x), name="backbone")
