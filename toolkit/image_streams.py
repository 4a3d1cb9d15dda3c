"""Image files and streams as batched `tf.data` pipelines: decoded inside tf.data, cached only when they fit.

A folder of a million images trains like a folder of a thousand: the index holds paths, each file
is decoded by the one decoder (`toolkit.image_files.decode_file`) inside `tf.data`, and decoded images
are cached in memory only when they fit `MEMORY_CACHE_BYTES`.
"""

import os
import pathlib
import warnings

import keras
import numpy as np

from toolkit import data as data_lib
from toolkit import image_files
from toolkit import images as images_lib
from toolkit.errors import ToolkitError


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


# ------------------------------------------------------------------ streaming
# Formats TensorFlow decodes itself; others (TIFF) go through PIL inside tf.data.
TF_DECODABLE_PATTERN = r".*\.(png|jpe?g|bmp|gif|webp)"
# From-scratch classifiers train at most at this many pixels a side unless image_size says otherwise:
# a 375x500 phone photo at native size makes a CPU epoch minutes long, and on 1,000 shapes a VGG learned
# faster at 64 px (test 0.99 after 600 steps, 9 s an epoch) than at 105 (training 0.86 after 594, 35 s).
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
        return tf.ensure_shape(
            image_files.resize_pixels(image_files.decode_file(path, channels), size), (*size, channels)
        ), label

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
    paths = [str(p) for p in paths]
    out = np.empty((len(paths), size[0], size[1], channels), dtype=np.uint8)
    progress = keras.utils.Progbar(len(paths), unit_name="image") if verbose and len(paths) >= 500 else None
    done = 0
    for images in image_batches(paths, size, channels, 100):
        out[done : done + len(images)] = images
        done += len(images)
        if progress is not None:
            progress.update(done)
    return out


def image_batches(paths, size, channels, batch_size, dtype="uint8"):
    """Yields batches (uint8, or `dtype`) of files decoded by training's decoder (`file_dataset`), in parallel and ahead
    of the reader (prefetched), so a model predicts on one batch while the next decodes; an unreadable
    file is named.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for i in range(3):
        ...     Image.new("L", (10 + i, 10)).save(folder / f"{i}.png")
        >>> [batch.shape for batch in image_batches(sorted(folder.iterdir()), (8, 8), 1, 2)]
        [(2, 8, 8, 1), (1, 8, 8, 1)]
    """
    import tensorflow as tf

    paths = [str(p) for p in paths]
    for path in paths:
        if not os.path.isfile(path):
            raise image_files._unreadable(path, FileNotFoundError(path))
    dataset = file_dataset(paths, np.zeros(len(paths), np.int32), size, channels).batch(batch_size)
    dataset = dataset.map(lambda images, _: tf.cast(images, dtype), num_parallel_calls=tf.data.AUTOTUNE)
    done = 0
    try:
        for images in dataset.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
            yield images
            done += len(images)
    except tf.errors.InvalidArgumentError as error:
        raise image_files._decode_failure(error, paths[done : done + batch_size]) from None


def float_batches(paths, size, channels, batch_size):
    """`image_batches` as float32, what image models take."""
    return image_batches(paths, size, channels, batch_size, "float32")


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
        headers = [image_files.peek(path) for path in images]
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


def to_array(images, size, channels, verbose=True):
    """Paths or arrays -> uint8 array (N, height, width, channels).

    Examples:
        >>> to_array(np.zeros((2, 28, 28)), (14, 14), 3).shape
        (2, 14, 14, 3)
    """
    if len(images) and isinstance(images[0], str):
        return read_images(images, size, channels, verbose=verbose)
    return images_lib.to_uint8_images(images, size, channels)


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
