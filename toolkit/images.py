"""Reading image files into arrays, with errors that name the bad file.

Shared by the image tasks (classification, segmentation, detection).
"""

import os
import pathlib
import warnings

import keras
import numpy as np

from toolkit import data as data_lib
from toolkit.errors import ToolkitError

# input_scaling: how 0..255 pixels reach the backbone: (scale, offset) of a Rescaling layer, or
# "standardize" (each image to zero mean and unit variance, `PerImageStandardization`).
SCALINGS = {"unit": (1 / 255, 0.0), "symmetric": (1 / 127.5, -1.0), "raw": (1.0, 0.0), "standardize": None}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P;L")


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
    (measured in benchmarks/RESULTS.md, "Defaults that learn"). The deviation is
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


def read_image(path, size, channels):
    """Decodes one file to a uint8 array of shape (height, width, channels), resized to `size`, exactly
    as training decodes it (`decode_file`, then `resize_pixels`).

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "red.jpg"
        >>> Image.new("RGB", (40, 30), (255, 0, 0)).save(path)
        >>> read_image(path, (8, 8), 3).shape
        (8, 8, 3)
    """
    return read_images([path], size, channels, verbose=False)[0]


def read_images(paths, size, channels, verbose=True):
    """Decodes many files into one uint8 array with training's own decoder (`file_dataset`), in parallel
    inside tf.data, with a progress bar for large folders; an unreadable file is named.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for i in range(3):
        ...     Image.new("L", (10 + i, 10)).save(folder / f"{i}.png")
        >>> read_images(sorted(folder.iterdir()), (8, 8), 1).shape
        (3, 8, 8, 1)
    """
    import tensorflow as tf

    paths = [str(p) for p in paths]
    for path in paths:
        if not os.path.isfile(path):
            raise _unreadable(path, FileNotFoundError(path))
    out = np.empty((len(paths), size[0], size[1], channels), dtype=np.uint8)
    progress = keras.utils.Progbar(len(paths), unit_name="image") if verbose and len(paths) >= 500 else None
    dataset = file_dataset(paths, np.zeros(len(paths), np.int32), size, channels).batch(100)
    done = 0
    try:
        for images, _ in dataset.as_numpy_iterator():
            out[done : done + len(images)] = images
            done += len(images)
            if progress is not None:
                progress.update(done)
    except tf.errors.InvalidArgumentError as error:
        raise _decode_failure(error, paths[done : done + 100]) from None
    return out


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
            group = tf.image.resize(group, size).numpy()
        out.append(group)
    return np.clip(np.concatenate(out), 0, 255).round().astype(np.uint8)


def choose_size_and_channels(images, image_size=None, verbose=True):
    """The (height, width) and channel count to train at, from the data unless given.

    Examples:
        >>> choose_size_and_channels(np.zeros((5, 28, 28)))
        ((28, 28), 1)
        >>> choose_size_and_channels(np.zeros((5, 28, 28, 3)), image_size=32)
        ((32, 32), 3)
    """
    if isinstance(images, data_lib.Stream):
        sizes, channels = stream_sizes(images.dataset())  # the part's own examples
    elif len(images) and isinstance(images[0], str):
        headers = [peek(path) for path in images]
        sizes = [size for size, _ in headers]
        channels = 3 if any(c == 3 for _, c in headers) else 1
    elif isinstance(images, np.ndarray) and images.dtype != object:
        sizes = [tuple(images.shape[1:3])]
        channels = 1 if images.ndim == 3 or images.shape[-1] == 1 else 3
    else:
        arrays = [np.asarray(x) for x in images]
        sizes = [tuple(x.shape[:2]) for x in arrays]
        channels = 3 if any(x.ndim == 3 and x.shape[-1] in (3, 4) for x in arrays) else 1
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    elif len(set(sizes)) == 1:
        size = sizes[0]
    else:
        # Mixed sizes: the median, kept between 32 and 224 pixels a side.
        size = tuple(int(min(224, max(32, np.median([s[i] for s in sizes])))) for i in (0, 1))
        warnings.warn(
            f"Images differ in size (median {size[0]}x{size[1]}); each is resized to one training size (a "
            "from-scratch task caps it, see its message). Pass image_size= to choose.",
            stacklevel=2,
        )
    return tuple(int(v) for v in size), channels


def stream_sizes(source):
    """Image sizes and channels of a stream: from its static shape, else from its first `SIZE_SAMPLE` images."""
    shape = source.element_spec[0].shape
    if shape.rank not in (2, 3, None):
        raise ToolkitError(
            f"The dataset's images have shape {shape}.",
            expected="images of shape (height, width) or (height, width, channels), one per element",
            fix="map the dataset to (image, label) pairs",
        )
    if shape.rank is not None and shape[0] is not None and shape[1] is not None:
        return [tuple(shape[:2])], 3 if shape.rank == 3 and shape[-1] in (3, 4) else 1
    sizes, channels = [], 1
    for image, _ in source.take(SIZE_SAMPLE):
        sizes.append(tuple(image.shape[:2]))
        channels = 3 if image.shape.rank == 3 and image.shape[-1] in (3, 4) else channels
    return sizes, channels


def stream_dataset(stream, labels, size, channels):
    """A `toolkit.data.Stream` of (image, raw label) -> (uint8 image at `size` x `channels`, encoded label).

    Pixels are taken as 0..255 values, like arrays: floats are rounded and clipped.

    Examples:
        >>> import tensorflow as tf
        >>> source = tf.data.Dataset.from_tensor_slices((np.full((3, 10, 10), 300.0), ["a", "b", "a"]))
        >>> images = stream_dataset(data_lib.Stream(source, [0, 2], 3), np.array([0, 0]), (4, 4), 3)
        >>> [(tuple(x.shape), int(x.numpy().max()), int(y)) for x, y in images]
        [((4, 4, 3), 255, 0), ((4, 4, 3), 255, 0)]
    """
    import tensorflow as tf

    convert = stream_image_converter(stream.source.element_spec[0].shape, size, channels)
    images = stream.dataset().map(lambda x, y: convert(x), num_parallel_calls=tf.data.AUTOTUNE)
    return tf.data.Dataset.zip((images, tf.data.Dataset.from_tensor_slices(np.asarray(labels))))


def stream_image_converter(shape, size, channels):
    """A tf function: one stream image of static `shape` -> uint8 (height, width, channels) at `size`.

    Examples:
        >>> import tensorflow as tf
        >>> convert = stream_image_converter(tf.TensorShape([None, None, 4]), (2, 2), 1)
        >>> convert(tf.fill((5, 5, 4), 255.0)).numpy().squeeze().tolist()
        [[255, 255], [255, 255]]
    """
    import tensorflow as tf

    size = tuple(int(v) for v in size)
    have = 1 if shape.rank == 2 else shape[-1]
    if have not in (1, 3, 4):
        raise ToolkitError(
            f"The dataset's images have shape {shape}: their channel count is {'unknown' if have is None else have}.",
            expected="images with 1, 3 or 4 channels (last axis), or (height, width) grey images",
            fix="map the dataset so its images have a known channel axis, e.g. tf.ensure_shape(x, (None, None, 3))",
        )

    def convert(image):
        image = tf.cast(image, tf.float32)
        if shape.rank == 2:
            image = image[..., None]
        if have == 4:
            image = image[..., :3]
        if have == 1 and channels == 3:
            image = tf.repeat(image, 3, axis=-1)
        elif have in (3, 4) and channels == 1:
            image = tf.reduce_sum(image * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
        image = tf.image.resize(image, size, antialias=True)
        image = tf.debugging.check_numerics(image, "toolkit: an image holds NaN or infinite values")
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    return convert


def to_array(images, size, channels, verbose=True):
    """Paths or arrays -> uint8 array (N, height, width, channels).

    Examples:
        >>> to_array(np.zeros((2, 28, 28)), (14, 14), 3).shape
        (2, 14, 14, 3)
    """
    if len(images) and isinstance(images[0], str):
        return read_images(images, size, channels, verbose=verbose)
    return to_uint8_images(images, size, channels)


# ------------------------------------------------------------------ streaming
# Formats TensorFlow decodes itself; others (TIFF) go through PIL inside tf.data.
_TF_DECODABLE_PATTERN = r".*\.(png|jpe?g|bmp|gif|webp)"
# From-scratch classifiers train at most at this many pixels a side unless image_size says otherwise:
# a 375x500 phone photo at native size makes a CPU epoch minutes long, and on a small folder a VGG
# learned in fewer steps at 64 px than at 105 (benchmarks/RESULTS.md, "Defaults that learn").
SCRATCH_MAX_SIDE = 64
# Decoded training images are cached in memory up to this many bytes; beyond it every epoch decodes
# from the files again (decoding a JPEG costs about what reading a raw cache file would, and needs
# neither the memory nor a cache file as large as the decoded dataset).
MEMORY_CACHE_BYTES = 1 << 30
SIZE_SAMPLE = 1000  # files whose headers choose the image size and channels


def header_sample(paths, seed=0, limit=SIZE_SAMPLE):
    """A seeded sample of at most `limit` paths, to learn sizes from without reading every file.

    Examples:
        >>> len(header_sample([f"{i}.png" for i in range(5000)])), header_sample(["a.png"])
        (1000, ['a.png'])
    """
    if len(paths) <= limit:
        return list(paths)
    chosen = np.random.default_rng(seed).choice(len(paths), size=limit, replace=False)
    return [paths[i] for i in sorted(chosen)]


def capped_size(size, max_side=SCRATCH_MAX_SIDE):
    """(height, width) scaled down, aspect kept, so the longer side is at most `max_side`.

    Examples:
        >>> capped_size((375, 500)), capped_size((28, 28))
        ((48, 64), (28, 28))
    """
    scale = min(1.0, max_side / max(size))
    return tuple(max(1, int(round(side * scale))) for side in size)


def file_dataset(paths, labels, size, channels, shuffle_seed=None):
    """(path, label) -> (uint8 image (height, width, channels), label), decoded inside tf.data.

    With `shuffle_seed`, the paths are reshuffled every epoch before decoding.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (40, 30), (255, 0, 0)).save(folder / "red.jpg")
        >>> image, label = next(iter(file_dataset([str(folder / "red.jpg")], [3], (8, 8), 1)))
        >>> image.shape, image.dtype.name, int(label)
        (TensorShape([8, 8, 1]), 'uint8', 3)
    """
    import tensorflow as tf

    size = tuple(int(v) for v in size)

    def decode(path, label):
        return tf.ensure_shape(resize_pixels(decode_file(path, channels), size), (*size, channels)), label

    dataset = tf.data.Dataset.from_tensor_slices((list(map(str, paths)), labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)


def batched_dataset(x, y, size, channels, batch_size, *, shuffle=False, seed=0):
    """One part's index -> (a batched dataset of (float32 images 0..255, labels), the file paths it reads).

    `x` is file paths (decoded inside tf.data, parallel, prefetched), a `toolkit.data.Stream`,
    or uint8 arrays already at `size`. Decoded uint8 images are cached in memory only when
    they fit `MEMORY_CACHE_BYTES`, so memory stays flat as the folder grows; uncached, the
    paths are shuffled (cheap), not decoded images, so no image buffer grows with the data.

    Examples:
        >>> dataset, files = batched_dataset(np.zeros((5, 4, 4, 1), np.uint8), np.arange(5), (4, 4), 1, 2)
        >>> [tuple(images.shape) for images, _ in dataset], files
        ([(2, 4, 4, 1), (2, 4, 4, 1), (1, 4, 4, 1)], [])
    """
    import tensorflow as tf

    size = tuple(size)
    stream = isinstance(x, data_lib.Stream)
    on_disk = stream or x.dtype.kind in "US"
    cache = not on_disk or fits_in_memory(len(x), size, channels)
    files = []
    if stream:
        dataset = stream_dataset(x, y, size, channels)
    elif on_disk:
        files = x.tolist()
        dataset = file_dataset(x, y, size, channels, shuffle_seed=seed if shuffle and not cache else None)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if cache:
        dataset = dataset.cache()
    if shuffle and (cache or stream):
        # A stream's buffer stays small: uncached, it must not grow memory with the data.
        buffer = min(len(x), 1000 if stream else 10_000)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(
        lambda images, labels: (tf.cast(images, "float32"), labels), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE), files


def fits_in_memory(count, size, channels, budget=None):
    """True when `count` decoded uint8 images of `size` x `channels` fit the in-memory cache budget
    (`budget` bytes, default `MEMORY_CACHE_BYTES` as it is when called).

    Examples:
        >>> fits_in_memory(2000, (128, 128), 3), fits_in_memory(32000, (128, 128), 3)
        (True, False)
    """
    return count * size[0] * size[1] * channels <= (MEMORY_CACHE_BYTES if budget is None else budget)


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


def output_paths(items, folder, kinds, replace=False):
    """Where per-image outputs go: `<folder>/<image name>_<kind>.png` for each kind, one dict per item.

    Items that are not files are named `image_<i>`; two inputs of the same file name (from two folders)
    number every name. Existing files are never overwritten unless `replace` (the run's own folder):
    that is an error naming one. The folder is created.

    Examples:
        >>> import tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> [sorted(p) for p in output_paths(["a/cat.png", np.zeros((2, 2))], folder, ["mask"])]
        [['mask'], ['mask']]
        >>> output_paths(["a/cat.png"], folder, ["mask"])[0]["mask"].name
        'cat_mask.png'
    """
    stems = [
        pathlib.Path(item).stem if isinstance(item, (str, os.PathLike)) else f"image_{i}"
        for i, item in enumerate(items)
    ]
    if len(set(stems)) < len(stems):  # the same file name from two folders: number them all
        stems = [f"{i}_{stem}" for i, stem in enumerate(stems)]
    folder = pathlib.Path(folder)
    paths = [{kind: folder / f"{stem}_{kind}.png" for kind in kinds} for stem in stems]
    taken = [str(path) for files in paths for path in files.values() if path.exists()]
    if taken and not replace:
        raise ToolkitError(
            f"{len(taken)} output file(s) exist already, e.g. {taken[0]}.",
            expected="a folder without these files (predictions never overwrite a file)",
            fix="choose another output folder, or move those files away",
        )
    folder.mkdir(parents=True, exist_ok=True)
    return paths
