"""Differentiable augmentation of what a GAN's discriminator sees (DiffAugment, Zhao et al. 2020).

Applied to real and generated images alike, inside the training step, so the
generator's gradients flow through it; the discriminator then cannot memorise a
small training set, and the generator is not taught the augmentations (they are
on both sides). Keras' preprocessing layers augment data before the model and are
not all differentiable, hence these few tensor operations. Images are in [-1, 1].
"""

import keras
import tensorflow as tf

from toolkit.errors import ToolkitError

NAMES = ("translation", "brightness", "contrast", "cutout")


def _uniform(shape, low, high, seed):
    return keras.random.uniform(shape, minval=low, maxval=high, seed=seed)


def translation(images, seed, fraction=0.125):
    """Shifts each image by up to `fraction` of its size, filling with zeros (bilinear crops keep it differentiable)."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    h, w = tf.cast(height - 1, "float32"), tf.cast(width - 1, "float32")
    most_y = tf.round(tf.cast(height, "float32") * fraction)
    most_x = tf.round(tf.cast(width, "float32") * fraction)
    dy = tf.round(_uniform((batch,), -most_y - 0.5, most_y + 0.5, seed)) / tf.maximum(h, 1.0)
    dx = tf.round(_uniform((batch,), -most_x - 0.5, most_x + 0.5, seed)) / tf.maximum(w, 1.0)
    boxes = tf.stack([dy, dx, 1.0 + dy, 1.0 + dx], axis=1)
    return tf.image.crop_and_resize(images, boxes, tf.range(batch), [height, width], extrapolation_value=-1.0)


def brightness(images, seed):
    """Adds one offset in [-0.5, 0.5) to every pixel of each image."""
    return images + _uniform((tf.shape(images)[0], 1, 1, 1), -0.5, 0.5, seed)


def contrast(images, seed):
    """Scales each image's deviation from its mean by a factor in [0.5, 1.5)."""
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * _uniform((tf.shape(images)[0], 1, 1, 1), 0.5, 1.5, seed) + mean


def cutout(images, seed, fraction=0.5):
    """Blanks a square of half the image's size at a random place in each image."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    size_y = tf.cast(tf.cast(height, "float32") * fraction, "int32")
    size_x = tf.cast(tf.cast(width, "float32") * fraction, "int32")
    top = tf.cast(_uniform((batch, 1, 1), 0.0, 1.0, seed) * tf.cast(height - size_y + 1, "float32"), "int32")
    left = tf.cast(_uniform((batch, 1, 1), 0.0, 1.0, seed) * tf.cast(width - size_x + 1, "float32"), "int32")
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return tf.where(inside[..., None], tf.zeros_like(images), images)


FUNCTIONS = {"translation": translation, "brightness": brightness, "contrast": contrast, "cutout": cutout}


def check(names):
    """An error for a name that is not one of `NAMES`."""
    for name in names:
        if name not in NAMES:
            raise ToolkitError(f"Unknown augmentation {name!r}.", expected=f"names from {NAMES}", fix="fix augment=")


def apply(images, names, seed):
    """Applies the named augmentations in order, each drawing from the seed generator `seed`.

    Examples:
        >>> import numpy as np
        >>> seed = keras.random.SeedGenerator(0)
        >>> out = apply(tf.zeros((2, 8, 8, 1)), ("translation", "cutout"), seed)
        >>> tuple(out.shape)
        (2, 8, 8, 1)
    """
    for name in names:
        images = FUNCTIONS[name](images, seed)
    return images
