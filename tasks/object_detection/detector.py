"""The from-scratch detector: a small convolutional backbone, a feature pyramid back up to 1/4 resolution,
and CenterNet's three heads (`centers`), sized to train on a CPU."""

import keras

from tasks.object_detection import centers


def _block(x, filters, stride, name):
    """Conv-BN-ReLU twice (the first may stride): a ResNet-style basic block without the shortcut's cost."""
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn2")(x)
    return keras.layers.ReLU(name=f"{name}_relu2")(x)


def center_detector(image_size, num_classes, width=32, prior=0.1):
    """Images (batch, size, size, 3), pixels 0-255 -> {"heatmap" logits (batch, g, g, classes), "size",
    "offset" (batch, g, g, 2)}, g = size // 4.

    Args:
        image_size: the input side (a multiple of 32).
        num_classes: heatmap channels.
        width: filters of the first stage (doubling at each of the four downsamplings).
        prior: the heatmap's starting probability everywhere (RetinaNet's prior-probability bias), so
            the focal loss does not begin swamped by background.

    Example:
    >>> model = center_detector(64, 3, width=8)
    >>> import numpy as np
    >>> out = model(np.zeros((1, 64, 64, 3), "float32"))
    >>> sorted((name, tuple(value.shape)) for name, value in out.items())
    [('heatmap', (1, 16, 16, 3)), ('offset', (1, 16, 16, 2)), ('size', (1, 16, 16, 2))]
    """
    import math

    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = _block(x, width, 2, "stem")  # 1/2
    features = []
    for k in range(4):  # 1/4, 1/8, 1/16, 1/32
        x = _block(x, width * 2 ** min(k + 1, 3), 2, f"stage{k + 1}")
        features.append(x)
    # Top-down: each level upsampled and added to the finer one (a feature pyramid), to 1/4.
    x = keras.layers.Conv2D(width * 2, 1, name="lateral4")(features[3])
    for k in (2, 1, 0):
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"up{k + 1}")(x)
        lateral = keras.layers.Conv2D(width * 2, 1, name=f"lateral{k + 1}")(features[k])
        x = keras.layers.Add(name=f"merge{k + 1}")([x, lateral])
        x = keras.layers.Conv2D(width * 2, 3, padding="same", activation="relu", name=f"smooth{k + 1}")(x)

    def head(name, channels, bias=0.0, activation=None):
        h = keras.layers.Conv2D(width * 2, 3, padding="same", activation="relu", name=f"{name}_hidden")(x)
        return keras.layers.Conv2D(
            channels, 1, activation=activation, bias_initializer=keras.initializers.Constant(bias), name=name,
            dtype="float32",
        )(h)  # fmt: skip

    outputs = {
        "heatmap": head("heatmap", num_classes, bias=-math.log((1 - prior) / prior)),
        "size": head("size", 2, activation="relu"),
        "offset": head("offset", 2),
    }
    return keras.Model(inputs, outputs, name=f"center_detector_{width}")


def losses(size_weight=0.1):
    """Keras losses for `center_detector`'s outputs; "size" and "offset" targets carry the centre mask as
    their last channel (see `with_masks`)."""

    def heatmap(y_true, y_pred):
        return centers.heatmap_loss(y_true, y_pred)

    def size(y_true, y_pred):
        return size_weight * centers.masked_l1(y_true[..., :2], y_pred, y_true[..., 2:])

    def offset(y_true, y_pred):
        return centers.masked_l1(y_true[..., :2], y_pred, y_true[..., 2:])

    return {"heatmap": heatmap, "size": size, "offset": offset}


def with_masks(targets):
    """`centers.encode`'s targets -> the model's: the mask appended to "size" and "offset"."""
    import tensorflow as tf

    return {
        "heatmap": targets["heatmap"],
        "size": tf.concat([targets["size"], targets["mask"]], axis=-1),
        "offset": tf.concat([targets["offset"], targets["mask"]], axis=-1),
    }
