"""The networks image generation assembles: encoders, decoders, generators, discriminators, a feature classifier.

Two named backbones, registered in the one registry with `modality="generative"`:
"conv" (DCGAN-style: strided convolutions down, transposed convolutions up; Radford
et al. 2016) and "dense" (fully connected, for tiny images). Each is a namespace of
builders, since a generative model needs a matching pair of networks, not one.
Every network takes and returns pixels scaled as the model in `model.py` says
([0, 1] for autoencoders and VAEs, [-1, 1] for GANs).
"""

import types

import keras

from toolkit.backbones import BACKBONES, BATCH_NORM_MOMENTUM
from toolkit.errors import ToolkitError


def check_image_size(image_size, divisor, depth):
    """An error unless `image_size` (an int, a pair or None) divides by `divisor` (2**depth for "conv")."""
    size = (image_size,) * 2 if isinstance(image_size, int) else image_size
    if size is not None and (size[0] % divisor or size[1] % divisor):
        raise ToolkitError(
            f"image_size={image_size!r} does not divide by 2**depth = {divisor}.",
            expected=f"a height and width that are multiples of {divisor} (the networks halve them {depth} times)",
            fix=f"pass image_size={(size[0] // divisor * divisor) or divisor}, or a smaller depth",
        )


def bottleneck_shape(image_shape, depth):
    """The feature map after `depth` stride-2 stages (what the decoder starts from).

    Examples:
        >>> bottleneck_shape((8, 8, 1), 2)
        (2, 2)
    """
    return (image_shape[0] // 2**depth, image_shape[1] // 2**depth)


# ----------------------------------------------------------------- conv (DCGAN)
def _down(x, filters, norm, name):
    conv = keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=f"{name}_conv")
    if norm == "spectral":
        # Spectral normalisation bounds the discriminator's Lipschitz constant (Miyato et al. 2018).
        x = keras.layers.SpectralNormalization(conv, name=f"{name}_sn")(x)
    else:
        x = conv(x)
        if norm == "batch":
            x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.LeakyReLU(0.2, name=f"{name}_act")(x)


def _up(x, filters, name):
    x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, name=f"{name}_deconv")(x)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_act")(x)


def conv_features(image_shape, width, depth, norm, name):
    """Image -> flat features: `depth` stride-2 convolutions, widths doubling."""
    inputs = keras.Input(image_shape, name="image")
    x = inputs
    for i in range(depth):
        x = _down(x, width * 2**i, norm if i else ("spectral" if norm == "spectral" else None), f"down{i}")
    return inputs, keras.layers.Flatten(name="flatten")(x)


def conv_image(latent, image_shape, width, depth, activation, name_prefix=""):
    """Latent vector tensor -> image tensor: a dense projection, then `depth` stride-2 transposed convolutions."""
    height, wide = bottleneck_shape(image_shape, depth)
    filters = width * 2 ** (depth - 1)
    x = keras.layers.Dense(height * wide * filters, use_bias=False, name=f"{name_prefix}project")(latent)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name_prefix}project_bn")(x)
    x = keras.layers.ReLU(name=f"{name_prefix}project_act")(x)
    x = keras.layers.Reshape((height, wide, filters), name=f"{name_prefix}reshape")(x)
    for i in reversed(range(depth)):
        x = _up(x, width * 2 ** max(i - 1, 0), f"{name_prefix}up{i}")
    return keras.layers.Conv2D(
        image_shape[-1], 3, padding="same", activation=activation, name="pixels", dtype="float32"
    )(x)


# ----------------------------------------------------------------- dense
def dense_features(image_shape, width, depth, norm, name):
    inputs = keras.Input(image_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in range(depth):
        dense = keras.layers.Dense(width * 2 ** (depth - i + 1), name=f"dense{i}")
        x = keras.layers.SpectralNormalization(dense, name=f"dense{i}_sn")(x) if norm == "spectral" else dense(x)
        x = keras.layers.LeakyReLU(0.2, name=f"dense{i}_act")(x)
    return inputs, x


def dense_image(latent, image_shape, width, depth, activation, name_prefix=""):
    x = latent
    for i in range(depth):
        x = keras.layers.Dense(width * 2 ** (i + 2), name=f"{name_prefix}dense{i}")(x)
        x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name_prefix}dense{i}_bn")(x)
        x = keras.layers.ReLU(name=f"{name_prefix}dense{i}_act")(x)
    size = image_shape[0] * image_shape[1] * image_shape[2]
    x = keras.layers.Dense(size, activation=activation, name="pixels", dtype="float32")(x)
    return keras.layers.Reshape(tuple(image_shape), name="image_out")(x)


CONV = types.SimpleNamespace(features=conv_features, image=conv_image, divisor=lambda depth: 2**depth)
DENSE = types.SimpleNamespace(features=dense_features, image=dense_image, divisor=lambda depth: 1)
BACKBONES.register(
    "conv",
    modality="generative",
    description="DCGAN-style: stride-2 convolutions down, transposed convolutions up (Radford et al. 2016)",
)(CONV)
BACKBONES.register("dense", modality="generative", description="fully connected encoder / decoder, for tiny images")(
    DENSE
)


# ----------------------------------------------------------------- the networks
def encoder(backbone, image_shape, width, depth, latent_dim, variational):
    """Image in [0, 1] -> code (autoencoder) or [mean, log-variance] of the posterior (VAE)."""
    inputs, features = BACKBONES.get(backbone).features(image_shape, width, depth, "batch", "encoder")
    if variational:
        mean = keras.layers.Dense(latent_dim, name="z_mean", dtype="float32")(features)
        log_var = keras.layers.Dense(latent_dim, name="z_log_var", dtype="float32")(features)
        return keras.Model(inputs, [mean, log_var], name="encoder")
    code = keras.layers.Dense(latent_dim, name="code", dtype="float32")(features)
    return keras.Model(inputs, code, name="encoder")


def decoder(backbone, image_shape, width, depth, latent_dim, activation):
    """Code -> image: sigmoid pixel means in [0, 1] (`activation="sigmoid"`) or logits (None)."""
    latent = keras.Input((latent_dim,), name="code")
    image = BACKBONES.get(backbone).image(latent, image_shape, width, depth, activation)
    return keras.Model(latent, image, name="decoder")


def generator(backbone, image_shape, width, depth, latent_dim, num_classes):
    """Noise (and a class index when `num_classes`) -> image in [-1, 1]."""
    noise = keras.Input((latent_dim,), name="noise")
    inputs, latent = [noise], noise
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        embedded = keras.layers.Embedding(num_classes, latent_dim, name="label_embedding")(label)
        latent = keras.layers.Concatenate(name="noise_and_label")([noise, embedded])
    image = BACKBONES.get(backbone).image(latent, image_shape, width, depth, "tanh")
    return keras.Model(inputs if num_classes else noise, image, name="generator")


def discriminator(backbone, image_shape, width, depth, num_classes, norm):
    """Image in [-1, 1] (and a class index) -> one real/fake logit.

    Conditional: a projection discriminator (Miyato & Koyama 2018): the logit gains
    the inner product of the features with a learned embedding of the class.
    """
    inputs, features = BACKBONES.get(backbone).features(image_shape, width, depth, norm, "discriminator")
    logit = keras.layers.Dense(1, name="logit", dtype="float32")(features)
    if not num_classes:
        return keras.Model(inputs, logit, name="discriminator")
    label = keras.Input((), dtype="int32", name="label")
    embedded = keras.layers.Embedding(num_classes, features.shape[-1], name="label_projection")(label)
    projection = keras.layers.Dot(axes=-1, name="projection")([features, embedded])
    logit = keras.layers.Add(name="conditional_logit", dtype="float32")([logit, projection])
    return keras.Model([inputs, label], logit, name="discriminator")


def feature_classifier(image_shape, num_classes, width=32):
    """A small CNN on images in [0, 1]: its penultimate layer ("features") is the space KID and FID are measured in.

    Trained by the task on the same training images (on their classes, or, without labels,
    on which of four rotations was applied: Gidaris et al. 2018's self-supervised task).
    """
    inputs = keras.Input(image_shape, name="image")
    x = inputs
    for i, filters in enumerate((width, width * 2)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}a")(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}b")(x)
        if min(x.shape[1], x.shape[2]) >= 4:
            x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    features = keras.layers.Dense(64, activation="relu", name="features")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes", dtype="float32")(
        keras.layers.Dropout(0.2)(features)
    )
    return keras.Model(inputs, outputs, name="feature_classifier")
