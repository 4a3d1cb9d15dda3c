"""Images as model inputs: the input scalings (`SCALINGS`, the per-image standardisation layer) and
arrays in memory to one uint8 size and channel count. Reading files is `toolkit.image_files`."""

import keras
import numpy as np

from toolkit import data as data_lib
from toolkit.errors import ToolkitError

# input_scaling: how 0..255 pixels reach the backbone: (scale, offset) of a Rescaling layer, or
# "standardize" (each image to zero mean and unit variance, `PerImageStandardization`).
SCALINGS = {"unit": (1 / 255, 0.0), "symmetric": (1 / 127.5, -1.0), "raw": (1.0, 0.0), "standardize": None}


def check_image_params(task):
    """Raises a clear error for an unknown `input_scaling` of an image task (None: the task's default).

    Examples:
        >>> class Task: input_scaling = "unit"
        >>> check_image_params(Task())
    """
    if task.input_scaling is not None and task.input_scaling not in SCALINGS:
        raise ToolkitError(
            f"input_scaling={task.input_scaling!r} is not valid.",
            expected=(
                f"one of {sorted(SCALINGS)} ('unit': [0, 1], 'symmetric': [-1, 1], 'raw': 0..255 unchanged, "
                "'standardize': each image to mean 0 and standard deviation 1), or None for the default"
            ),
            fix="pass input_scaling='raw' for backbones that scale pixels themselves (keras.applications ResNet50)",
        )


@keras.saving.register_keras_serializable(package="toolkit")
class PerImageStandardization(keras.layers.Layer):
    """Scales each image to mean 0 and standard deviation 1 over all its pixels and channels.

    The same transform as `tf.image.per_image_standardization`, as a layer so that
    it is saved inside the model and loads in Keras' safe mode (a `Lambda` would
    not); Keras has no per-image layer (`Normalization` uses dataset statistics).
    It removes each image's overall brightness and contrast, which a from-scratch
    network would otherwise spend its first hundreds of steps learning to ignore
    (a VGG on 1,000 shapes: near chance for 616 steps on [0, 1] pixels; standardized,
    test 0.905 after 300 steps and 0.99 after 600). The deviation is
    floored at one grey level so a flat image maps to zeros.

    Examples:
        >>> out = PerImageStandardization()(np.array([[[[0.0], [255.0]]]]))
        >>> [round(float(v), 3) for v in np.ravel(out)]
        [-1.0, 1.0]
    """

    def __init__(self, floor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.floor = floor

    def call(self, images):
        x = keras.ops.cast(images, "float32")
        axes = tuple(range(1, len(x.shape)))
        mean = keras.ops.mean(x, axis=axes, keepdims=True)
        deviation = keras.ops.sqrt(keras.ops.mean(keras.ops.square(x - mean), axis=axes, keepdims=True))
        return (x - mean) / keras.ops.maximum(deviation, self.floor)

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}


def scaling_layer(input_scaling):
    """The layer named "rescale" for an `input_scaling` name.

    Examples:
        >>> float(scaling_layer("symmetric")(np.array([[255.0]]))[0, 0])
        1.0
    """
    if input_scaling == "standardize":
        return PerImageStandardization(name="rescale")
    scale, offset = SCALINGS[input_scaling]
    return keras.layers.Rescaling(scale, offset, name="rescale")


def to_uint8_images(images, size=None, channels=None):
    """Arrays or lists of arrays (N,H,W[,C]) -> uint8 array (N,h,w,c) at one size and channel count.

    Values are taken as pixels in 0..255.

    Examples:
        >>> to_uint8_images(np.zeros((2, 8, 8))).shape  # greyscale gains a channel axis
        (2, 8, 8, 1)
        >>> to_uint8_images([np.zeros((8, 8, 3)), np.zeros((16, 16, 3))], size=(4, 4)).shape
        (2, 4, 4, 3)
    """
    import tensorflow as tf

    if isinstance(images, np.ndarray) and images.ndim in (3, 4) and images.dtype != object:
        batch = images if images.ndim == 4 else images[..., None]
        items = None
    else:
        items = [np.asarray(image) for image in images]
        for i, item in enumerate(items):
            if item.ndim not in (2, 3):
                raise ToolkitError(
                    f"Image {i} has shape {item.shape}.",
                    expected="images of shape (height, width) or (height, width, channels)",
                    fix="pass an array of shape (N, height, width[, channels])",
                )
        items = [item if item.ndim == 3 else item[..., None] for item in items]
        shapes = {item.shape for item in items}
        batch = np.stack(items) if len(shapes) == 1 else None
    if batch is not None and batch.ndim != 4:
        raise ToolkitError(
            f"Got image array of shape {batch.shape}.",
            expected="(N, height, width) or (N, height, width, channels)",
            fix="reshape the array",
        )
    if batch is not None and batch.shape[-1] not in (1, 3, 4):
        raise ToolkitError(
            f"Got images with {batch.shape[-1]} channels (shape {batch.shape}).",
            expected="1 (grey), 3 (RGB) or 4 (RGBA) channels, last axis",
            fix="move the channel axis last",
        )
    channels = channels or (1 if (batch if batch is not None else items[0]).shape[-1] == 1 else 3)
    if size is None:
        if batch is None:
            raise ToolkitError(
                "The images differ in size and no image_size was given.",
                expected="images of one size, or image_size=(height, width)",
                fix="pass image_size=(height, width)",
            )
        size = batch.shape[1:3]
    items = [batch] if batch is not None else [item[None] for item in items]
    data_lib.check_finite(batch if batch is not None else [item[0] for item in items], "image")
    out = []
    for group in items:
        group = np.asarray(group, dtype=np.float32)
        if group.shape[-1] == 4:
            group = group[..., :3]
        if group.shape[-1] == 1 and channels == 3:
            group = np.repeat(group, 3, axis=-1)
        elif group.shape[-1] == 3 and channels == 1:
            group = group @ np.array([0.299, 0.587, 0.114], dtype=np.float32)[:, None]
        if tuple(group.shape[1:3]) != tuple(size):
            # antialiased as files are (`resize_pixels`): an array gets the pixels its file would
            group = tf.image.resize(group, size, antialias=True).numpy()
        out.append(group)
    return np.clip(np.concatenate(out), 0, 255).round().astype(np.uint8)
