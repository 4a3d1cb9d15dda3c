"""Augmentation applied to an image and its mask together.

The mask rides along as one more channel of the image, so every geometric
operation (flip, 90-degree rotation, crop) moves both by construction; only
the final resize differs (bilinear for the image, nearest for the mask, so
class indices stay whole). Keras' augmentation layers act on images inside
the model, where the mask is out of reach; this runs in the tf.data input
pipeline, training only.
"""

import tensorflow as tf

from toolkit.errors import ToolkitError

AUGMENTATIONS = ("flip", "rotate90", "crop")


def check(names):
    """Raises a clear error for an unknown augmentation name.

    Examples:
        >>> check(("flip", "crop"))
        >>> check(("blur",))
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Unknown augmentation 'blur'.
        ...
    """
    for name in names or ():
        if name not in AUGMENTATIONS:
            raise ToolkitError(
                f"Unknown augmentation {name!r}.", expected=f"names from {AUGMENTATIONS}", fix="fix the augment= list"
            )


def augment_pair(image, mask, seed, names=AUGMENTATIONS, min_crop=0.6):
    """Randomly flips, rotates by multiples of 90 degrees and crops an (image, mask) pair the same way.

    Args:
        image: float tensor (height, width, channels).
        mask: integer tensor (height, width) of class indices.
        seed: stateless seed, shape (2,) int.
        names: which augmentations to apply, from `AUGMENTATIONS`.
        min_crop: smallest crop side as a fraction of the image side.

    Returns:
        (image, mask) of the input sizes and dtypes.

    Examples:
        >>> import numpy as np
        >>> mask = np.zeros((8, 8), "int32"); mask[:2, :3] = 1
        >>> image = tf.cast(mask[..., None] * 100, "float32")
        >>> out_image, out_mask = augment_pair(image, mask, seed=[1, 2], names=("flip", "rotate90"))
        >>> bool(tf.reduce_all(tf.cast(out_image[..., 0], "int32") == out_mask * 100))
        True
    """
    image = tf.convert_to_tensor(image, tf.float32)
    mask_dtype = tf.convert_to_tensor(mask).dtype
    height, width, channels = tf.shape(image)[0], tf.shape(image)[1], tf.shape(image)[2]
    stacked = tf.concat([image, tf.cast(tf.convert_to_tensor(mask)[..., None], tf.float32)], axis=-1)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    if "flip" in names:
        stacked = tf.image.stateless_random_flip_left_right(stacked, seeds[0])
        stacked = tf.image.stateless_random_flip_up_down(stacked, seeds[1])
    if "rotate90" in names:
        # A quarter turn swaps height and width, so non-square images only turn by 0 or 180 degrees.
        turns = tf.random.stateless_uniform([], seeds[2], 0, 4, dtype=tf.int32)
        turns = tf.where(tf.equal(height, width), turns, 2 * (turns % 2))
        stacked = tf.image.rot90(stacked, turns)
    if "crop" in names:
        scale = tf.random.stateless_uniform([], seeds[3], min_crop, 1.0)
        crop_h = tf.maximum(1, tf.cast(tf.cast(height, tf.float32) * scale, tf.int32))
        crop_w = tf.maximum(1, tf.cast(tf.cast(width, tf.float32) * scale, tf.int32))
        stacked = tf.image.stateless_random_crop(stacked, tf.stack([crop_h, crop_w, channels + 1]), seeds[4])
    size = tf.stack([height, width])
    out_image = tf.image.resize(stacked[..., :-1], size, method="bilinear")
    out_mask = tf.image.resize(stacked[..., -1:], size, method="nearest")[..., 0]
    out_image = tf.ensure_shape(out_image, image.shape)
    return out_image, tf.cast(tf.round(out_mask), mask_dtype)
