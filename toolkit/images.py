"""Reading image files into arrays, with errors that name the bad file.

Shared by the image tasks (classification, segmentation, detection).
"""

import os
import pathlib

import keras
import numpy as np

from toolkit import data as data_lib
from toolkit.errors import ToolkitError

# input_scaling: how 0..255 pixels reach the backbone: (scale, offset) of a Rescaling layer, or
# "standardize" (each image to zero mean and unit variance, `PerImageStandardization`).
SCALINGS = {"unit": (1 / 255, 0.0), "symmetric": (1 / 127.5, -1.0), "raw": (1.0, 0.0), "standardize": None}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P;L")
# Formats TensorFlow decodes itself; others (TIFF) go through PIL inside tf.data.
_TF_DECODABLE_PATTERN = r".*\.(png|jpe?g|bmp|gif|webp)"


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


def is_image_file(path):
    """True when the file name has an image extension (case-insensitive).

    Examples:
        >>> is_image_file("cat.JPG"), is_image_file("notes.txt")
        (True, False)
    """
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def peek(path):
    """Returns ((height, width), channels) from the file header, without decoding pixels.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
        >>> Image.new("L", (40, 30)).save(path)
        >>> peek(path)
        ((30, 40), 1)
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            grey = image.mode in _GREY_MODES or (image.mode == "P" and _palette_is_grey(image))
    except (OSError, ValueError) as error:
        raise _unreadable(path, error) from error
    return (height, width), 1 if grey else 3


def _palette_is_grey(image):
    palette = image.getpalette() or []
    triples = [palette[i : i + 3] for i in range(0, len(palette), 3)]
    return all(r == g == b for r, g, b in triples)


def _unreadable(path, error):
    if not os.path.exists(path):
        return ToolkitError(
            f"Image file '{path}' does not exist.",
            expected="a path to an existing image file",
            fix="check the path (relative paths are read from the current folder)",
        )
    return ToolkitError(
        f"Cannot read image file '{path}': {error}",
        expected=f"a readable image ({', '.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)})",
        fix="remove or replace that file; nothing in the folder was changed",
    )


def read_pixels(path, channels):
    """One file's pixels at its own size, uint8 (height, width, channels), decoded as training decodes
    them (`decode_file`); an unreadable file is a three-part error naming it.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
        >>> Image.new("L", (5, 4)).save(path)
        >>> read_pixels(path, 3).shape
        (4, 5, 3)
    """
    import tensorflow as tf

    if not os.path.isfile(path):
        raise _unreadable(str(path), FileNotFoundError(path))
    try:
        return decode_file(tf.constant(str(path)), channels).numpy()
    except tf.errors.InvalidArgumentError as error:
        raise _decode_failure(error, [str(path)]) from None


def _decode_failure(error, paths):
    """The three-part error for files TensorFlow could not decode: the ones PIL cannot read either, by
    name, else (PIL reads them, TensorFlow does not) the files of the batch with TensorFlow's message."""
    explained = explain_decode_error(error, paths)
    if explained is not None:
        return explained
    named = ", ".join(f"'{p}'" for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return ToolkitError(
        f"Image file {named} could not be decoded ({error.message.splitlines()[0]}).",
        expected="readable image files (png, jpg, bmp, gif, webp, tiff)",
        fix="re-save the file as PNG or JPEG, or remove it",
    )


def decode_file(path, channels):
    """The one image decoder every image task uses, for training, evaluation, prediction, serving and
    export examples: a path (a string tensor) -> uint8 (height, width, channels) at the file's size.

    TensorFlow decodes the formats it reads (PNG of 8 or 16 bits, palette, grey, RGBA; JPEG; BMP;
    WebP; GIF's first frame), converting to `channels` (grey to RGB by copying, RGB to grey by luminance,
    alpha dropped); other formats (TIFF) go through PIL with the same conversions. Prediction reading
    a file with another library (PIL) gave up to 0.02 other probabilities on ordinary JPEGs (libjpeg's
    DCT and colour conversion differ): the pixels a file gets must be the pixels training saw.
    """
    import tensorflow as tf

    native = tf.strings.regex_full_match(tf.strings.lower(path), _TF_DECODABLE_PATTERN)

    def with_tensorflow():
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False, dtype=tf.uint8)
        return tf.ensure_shape(image, (None, None, channels))

    def with_pil():
        image = tf.numpy_function(lambda p: _pil_pixels(np.asarray(p).item().decode(), channels), [path], tf.uint8,
                                  stateful=False)  # fmt: skip
        return tf.ensure_shape(image, (None, None, channels))

    return tf.cond(native, with_tensorflow, with_pil)


def decode_bytes(data, name, channels):
    """An uploaded file's bytes -> uint8 (height, width, channels) at its own size, decoded as `decode_file`
    decodes the same file on disk (TensorFlow for its formats, PIL for the rest), so a served upload gets
    the probabilities `predict` gives the file; nothing is written to disk.

    Examples:
        >>> import io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("RGB", (5, 4), (255, 0, 0)).save(buffer, format="PNG")
        >>> decode_bytes(buffer.getvalue(), "red.png", 1).shape
        (4, 5, 1)
    """
    import io

    import tensorflow as tf

    extension = pathlib.Path(name).suffix.lower()
    native = extension in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp") or (
        not extension and (data[:4] in _TF_SIGNATURES or data[:2] in (b"\xff\xd8", b"BM"))
    )
    try:
        if native:
            image = tf.io.decode_image(data, channels=channels, expand_animations=False, dtype=tf.uint8)
            return image.numpy()
        return _pil_pixels(io.BytesIO(data), channels)
    except (tf.errors.InvalidArgumentError, ValueError) as error:
        reason = error.message.splitlines()[0] if hasattr(error, "message") else str(error).split(": ", 1)[-1]
        raise ToolkitError(
            f"Image file '{name}' could not be decoded ({reason}).",
            expected="readable image files (png, jpg, bmp, gif, webp, tiff)",
            fix="re-save the file as PNG or JPEG",
        ) from None


_TF_SIGNATURES = (b"\x89PNG", b"GIF8", b"RIFF")


def resize_pixels(image, size):
    """uint8 pixels -> uint8 pixels at `size` (height, width): antialiased bilinear, rounded."""
    import tensorflow as tf

    image = tf.image.resize(image, size, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _pil_pixels(path, channels):
    """A file TensorFlow does not decode (TIFF, ...) -> uint8 (height, width, channels) through PIL."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.mode.startswith("I;16") or image.mode == "I":  # 16 bits: scaled as TensorFlow scales PNGs
                array = np.asarray(image, dtype=np.float64) / 257.0
                image = Image.fromarray(np.clip(np.round(array), 0, 255).astype(np.uint8))
            converted = image.convert("L" if channels == 1 else "RGB")
            return np.asarray(converted, dtype=np.uint8).reshape(converted.size[1], converted.size[0], channels)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot decode '{path}': {error}") from None


def list_class_folders(folder):
    """Scans a folder of class subfolders. Returns (paths, labels, class_names).

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for label in ("cat", "dog"):
        ...     (root / label).mkdir()
        ...     Image.new("RGB", (8, 8)).save(root / label / "1.png")
        >>> paths, labels, classes = list_class_folders(root)
        >>> labels, classes
        (['cat', 'dog'], ['cat', 'dog'])
    """
    folder = pathlib.Path(folder)
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for subfolder in subfolders:
        for root, _, files in os.walk(subfolder):
            for name in sorted(files):
                if is_image_file(name):
                    paths.append(os.path.join(root, name))
                    labels.append(subfolder.name)
    if not paths:
        loose = [p.name for p in folder.iterdir() if p.is_file() and is_image_file(p)]
        found = f"{len(loose)} images directly inside it and no class subfolders" if loose else "no images"
        raise ToolkitError(
            f"Folder '{folder}' holds {found}.",
            expected="one subfolder per class, each holding that class's images (photos/cat/1.jpg, photos/dog/2.png)",
            fix="move the images into one subfolder per class, or pass a CSV file of path,label",
        )
    return paths, labels, [p.name for p in subfolders if p.name in set(labels)]


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


def find_unreadable(paths, limit=5):
    """Up to `limit` files among `paths` that PIL cannot fully decode, each with its error.

    Used after a decoding error inside tf.data, whose message does not name the file.

    Examples:
        >>> import tempfile
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.jpg"
        >>> _ = bad.write_bytes(b"not an image")
        >>> [pathlib.Path(p).name for p, _ in find_unreadable([str(bad)])]
        ['bad.jpg']
    """
    from PIL import Image

    found = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
        except (OSError, ValueError, SyntaxError) as error:
            found.append((str(path), str(error)))
            if len(found) >= limit:
                break
    return found


def explain_decode_error(error, files):
    """A `ToolkitError` naming the undecodable files behind a tf.data decoding error, or None.

    A decoding error inside tf.data does not name its file; this finds the unreadable ones among
    the `files` the datasets read, and turns a NaN check failure of a stream into a clear message.

    Examples:
        >>> explain_decode_error(ValueError("other"), []) is None
        True
    """
    import tensorflow as tf

    if "toolkit: an image holds NaN" in str(error):
        return ToolkitError(
            "The dataset's images hold NaN or infinite values.",
            expected="finite pixel values (0..255)",
            fix="replace or drop those images (e.g. dataset.filter on tf.reduce_all(tf.math.is_finite(x)))",
        )
    if not files or not isinstance(error, tf.errors.InvalidArgumentError):
        return None
    bad = find_unreadable(files)
    if not bad:
        return None
    listed = "; ".join(f"'{path}' ({message})" for path, message in bad)
    return ToolkitError(
        f"{len(bad)} image file(s) could not be decoded: {listed}.",
        expected="readable image files (png, jpg, bmp, gif, webp, tiff)",
        fix="remove or replace those files; nothing in the folder was changed",
    )
