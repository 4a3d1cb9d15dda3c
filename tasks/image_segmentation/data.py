"""Segmentation inputs: every accepted form -> (images, masks) as files or arrays, and the "shapes" set.

Masks are class-index images: index PNGs, palette PNGs (the palette index is
the class) or 0/255 binary PNGs (read as 0/1). Pairs are matched by file name
stem; a missing partner or a size mismatch is an error naming the files.
"""

import os
import warnings

import numpy as np
import tensorflow as tf

from toolkit import data as data_lib
from toolkit import image_files, readers
from toolkit import tfds as tfds_lib
from toolkit.errors import ToolkitError

ACCEPTED = (
    "a folder with image and mask subfolders (e.g. image/ and label/), an (images folder, masks folder) pair, "
    "an (images, masks) tuple of arrays or file paths, a tf.data.Dataset of (image, mask), 'shapes', or 'tfds:NAME'"
)
IMAGE_FOLDERS = ("images", "image", "imgs", "img", "inputs")
MASK_FOLDERS = ("masks", "mask", "labels", "label", "annotations", "gt", "segmentations")
# TFDS feature names that hold a mask, in order of preference.
TFDS_MASK_KEYS = ("segmentation_mask", "mask", "segmentation", "label")
SHAPE_CLASSES = ["background", "circle", "square", "triangle"]


@data_lib.DATASETS.register(
    "shapes", task="image-segmentation", description="synthetic circles, squares and triangles with masks (generated)"
)
def shapes(count=240, size=64, seed=0):
    """Generated colour images of up to three shapes on noisy backgrounds, with class-index masks.

    Returns:
        (images uint8 (N, size, size, 3), masks uint8 (N, size, size), class names).

    Examples:
        >>> images, masks, names = shapes(count=4, size=32)
        >>> images.shape, masks.shape, names
        ((4, 32, 32, 3), (4, 32, 32), ['background', 'circle', 'square', 'triangle'])
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = rng.integers(0, 80, size=(count, size, size, 3)).astype(np.uint8)
    masks = np.zeros((count, size, size), dtype=np.uint8)
    for n in range(count):
        for _ in range(rng.integers(1, 4)):
            kind = int(rng.integers(1, 4))
            r = rng.uniform(size / 10, size / 5)
            cy, cx = rng.uniform(r, size - r, 2)
            if kind == 1:
                inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
            elif kind == 2:
                inside = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
            else:  # a triangle pointing up: below the apex, within widening edges
                inside = (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)
            masks[n][inside] = kind
            images[n][inside] = rng.integers(120, 256, 3)
    return images, masks, list(SHAPE_CLASSES)


def load_source(data, data_dir=None):
    """Returns (images, masks, class_names): images and masks are parallel lists of file paths or arrays,
    or, for a tf.data.Dataset or TFDS source, images is a `toolkit.data.Stream` of (image, mask) pairs
    (never pulled into memory) and masks is None.

    Examples:
        >>> images, masks, names = load_source((np.zeros((2, 8, 8)), np.zeros((2, 8, 8), "uint8")))
        >>> len(images), names
        (2, None)
        >>> load_source("no/such/folder")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Data path 'no/such/folder' does not exist.
        ...
    """
    if isinstance(data, tf.data.Dataset):
        return stream(data_lib.unbatched(data, target_rank=2)), None, None
    if isinstance(data, str) and data_lib.is_dataset_name(data):
        if data.startswith("tfds:"):
            return stream(_from_tfds(data, data_dir)), None, None
        return data_lib.DATASETS.get(data)()
    if isinstance(data, (tuple, list)) and len(data) == 2:
        first, second = data
        if all(isinstance(x, (str, os.PathLike)) for x in data):
            return pair_folders(first, second) + (None,)
        data_lib.check_same_length(first, second)
        return list(first) if not isinstance(first, np.ndarray) else first, list(second), None
    if isinstance(data, (str, os.PathLike)):
        folder = readers.existing_path(data, ACCEPTED)
        sub = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
        image_dir = next((sub[n] for n in IMAGE_FOLDERS if n in sub), None)
        mask_dir = next((sub[n] for n in MASK_FOLDERS if n in sub), None)
        if image_dir is None or mask_dir is None:
            raise ToolkitError(
                f"Folder '{folder}' has no image and mask subfolders (found: {sorted(sub) or 'none'}).",
                expected=f"subfolders named one of {IMAGE_FOLDERS} and one of {MASK_FOLDERS}",
                fix="pass (images_folder, masks_folder) to name them yourself",
            )
        return pair_folders(image_dir, mask_dir) + (None,)
    raise ToolkitError(
        f"Cannot use {type(data).__name__} as segmentation data.",
        expected=ACCEPTED,
        fix="convert the data to one of those forms",
    )


def pair_folders(image_dir, mask_dir):
    """Matches image and mask files by name without extension ("12.jpg" with "12.png"). Returns (images, masks).

    Examples:
        >>> import pathlib, tempfile
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for sub in ("image", "label"):
        ...     (root / sub).mkdir()
        ...     Image.new("L", (8, 8)).save(root / sub / "a.png")
        >>> Image.new("L", (8, 8)).save(root / "image" / "b.png")
        >>> pair_folders(root / "image", root / "label")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: 1 images have no mask of the same name in '...label': ['b.png'].
        ...
    """
    image_dir, mask_dir = readers.existing_path(image_dir, ACCEPTED), readers.existing_path(mask_dir, ACCEPTED)
    images = {p.stem: p for p in sorted(image_dir.iterdir()) if image_files.is_image_file(p)}
    masks = {p.stem: p for p in sorted(mask_dir.iterdir()) if image_files.is_image_file(p)}
    if not images:
        raise ToolkitError(f"'{image_dir}' holds no image files.", expected="PNG / JPEG images", fix="check the folder")
    unmatched = sorted(images[s].name for s in set(images) - set(masks))
    if unmatched:
        raise ToolkitError(
            f"{len(unmatched)} images have no mask of the same name in '{mask_dir}': {unmatched[:5]}.",
            expected="one mask per image, matched by file name without extension (0.png with 0.png)",
            fix="add the missing masks or move those images out",
        )
    extra = sorted(masks[s].name for s in set(masks) - set(images))
    if extra:
        warnings.warn(f"{len(extra)} masks in '{mask_dir}' have no image and are ignored: {extra[:5]}.", stacklevel=2)
    stems = sorted(images, key=_natural)
    return [str(images[s]) for s in stems], [str(masks[s]) for s in stems]


def _natural(stem):
    """Sorts "2" before "10"."""
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def read_mask(source, size=None):
    """A mask file or array -> uint8 class-index array (height, width), resized by nearest neighbour.

    Palette PNGs give their palette indices; 0/255 binary masks give 0/1.

    Examples:
        >>> read_mask(np.array([[0, 255], [255, 255]], dtype="uint8")).tolist()
        [[0, 1], [1, 1]]
    """
    from PIL import Image

    if isinstance(source, (str, os.PathLike)):
        try:
            with Image.open(source) as image:
                if image.mode in ("RGB", "RGBA"):
                    array = np.asarray(image.convert("RGB"))
                    if not (
                        np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2])
                    ):
                        raise ToolkitError(
                            f"Mask '{source}' is a colour (RGB) image.",
                            expected="class-index masks: greyscale index PNGs, palette PNGs, or 0/255 binary PNGs",
                            fix="save the masks as palette ('P' mode) or index PNGs",
                        )
                    array = array[..., 0]
                else:
                    array = np.asarray(image.convert("L") if image.mode in ("1", "LA") else image)
        except (OSError, ValueError) as error:
            raise image_files._unreadable(source, error) from error
    else:
        array = np.asarray(source)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim != 2:
            raise ToolkitError(
                f"Got a mask of shape {array.shape}.",
                expected="masks of shape (height, width) or (height, width, 1) holding class indices",
                fix="pass class-index masks, not one-hot or colour masks",
            )
    _check_class_indices(array, source)
    values = np.unique(array)
    if values.max(initial=0) == 255 and set(values.tolist()) <= {0, 255}:
        array = array // 255
    array = array.astype(np.uint8)
    if size is not None and tuple(array.shape) != tuple(size):
        array = tf.image.resize(array[..., None], size, method="nearest").numpy()[..., 0]
    return array


def _check_class_indices(array, source):
    """Masks hold whole class indices 0..255; anything else (NaN, -1, 0.5, 300) would wrap or truncate silently."""
    name = f"Mask '{source}'" if isinstance(source, (str, os.PathLike)) else "A mask"
    if array.dtype.kind in "fc":
        if not np.isfinite(array).all():
            raise ToolkitError(
                f"{name} holds NaN or infinite values.",
                expected="whole class indices",
                fix="fill those pixels with a class index (e.g. 0 for background)",
            )
        if not np.array_equal(array, np.round(array)):
            raise ToolkitError(
                f"{name} holds fractional values (e.g. {float(array[array != np.round(array)][0])}).",
                expected="whole class indices, not probabilities or one-hot scores",
                fix="convert the masks to class indices (e.g. argmax over classes)",
            )
    elif array.dtype.kind not in "iub":
        raise ToolkitError(f"{name} has dtype {array.dtype}.", expected="integer class indices", fix="cast the masks")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ToolkitError(
            f"{name} holds class index {int(array.min() if array.min() < 0 else array.max())}.",
            expected="class indices from 0 to 255 (0/255 binary masks are read as 0/1)",
            fix="renumber the classes from 0; negative ids such as an 'ignore' label of -1 are not supported",
        )


def original_size(source):
    """(height, width) of an image or mask, from a file header or an array.

    Examples:
        >>> original_size(np.zeros((30, 40, 3)))
        (30, 40)
    """
    if isinstance(source, (str, os.PathLike)):
        return image_files.peek(source)[0]
    return tuple(np.asarray(source).shape[:2])


def check_pairs(images, masks):
    """Raises an error naming the first pairs whose image and mask sizes differ.

    Examples:
        >>> check_pairs([np.zeros((8, 8))], [np.zeros((8, 9))])
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: 1 image / mask pairs differ in size: image 0 is 8x8 but its mask is 8x9.
        ...
    """
    data_lib.check_same_length(images, masks)
    bad = []
    for i, (image, mask) in enumerate(zip(images, masks)):
        a, b = original_size(image), original_size(mask)
        if a != b:
            name = f"'{image}'" if isinstance(image, (str, os.PathLike)) else f"image {i}"
            bad.append(f"{name} is {a[0]}x{a[1]} but its mask is {b[0]}x{b[1]}")
    if bad:
        raise ToolkitError(
            f"{len(bad)} image / mask pairs differ in size: {'; '.join(bad[:3])}.",
            expected="each mask the same height and width as its image",
            fix="resize the masks with nearest-neighbour interpolation, or fix the pairing",
        )


def stream(source):
    """A dataset of (image, mask) pairs as a `Stream` over all its positions (counted in one pass if unknown).

    Examples:
        >>> pairs = tf.data.Dataset.from_tensor_slices((np.zeros((3, 4, 4, 1)), np.zeros((3, 4, 4), "uint8")))
        >>> len(stream(pairs))
        3
    """
    count = int(source.cardinality())
    if count < 0:  # unknown (a filter, a generator) or infinite
        if count == tf.data.INFINITE_CARDINALITY:
            raise ToolkitError(
                "The tf.data.Dataset repeats forever.", expected="a finite dataset", fix="drop the .repeat()"
            )
        count = int(source.reduce(np.int64(0), lambda n, _: n + 1))
    if count == 0:
        raise ToolkitError(
            "The tf.data.Dataset holds no (image, mask) pairs.", expected="a non-empty dataset", fix="check it"
        )
    return data_lib.Stream(source, np.arange(count), count)


def stream_mask_converter(shape, size):
    """A tf function: one stream mask of static `shape` -> uint8 (height, width) class indices at `size`.

    0/255 binary masks become 0/1, as for files; resizing is nearest-neighbour.

    Examples:
        >>> convert = stream_mask_converter(tf.TensorShape([4, 4, 1]), (2, 2))
        >>> convert(tf.fill((4, 4, 1), 255)).numpy().tolist()
        [[1, 1], [1, 1]]
    """
    if shape.rank not in (2, 3) or (shape.rank == 3 and shape[-1] not in (1, None)):
        raise ToolkitError(
            f"The dataset's masks have shape {shape}.",
            expected="masks of shape (height, width) or (height, width, 1) holding class indices, one per element",
            fix="map the dataset to (image, mask) pairs of class-index masks (argmax a one-hot mask)",
        )
    size = tuple(int(v) for v in size)

    def convert(mask):
        mask = tf.cast(mask if shape.rank == 2 else mask[..., 0], tf.int32)
        binary = tf.reduce_all((mask == 0) | (mask == 255)) & tf.reduce_any(mask == 255)
        mask = tf.where(binary, mask // 255, mask)
        mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
        return tf.cast(mask, tf.uint8)

    return convert


def stream_mask_range(stream):
    """(smallest, largest) class index of a stream's masks, in one pass that checks they are whole
    numbers and that each has its image's size.

    Examples:
        >>> pairs = tf.data.Dataset.from_tensor_slices((np.zeros((2, 4, 2)), np.array([[[0, 2]] * 4, [[1, 1]] * 4])))
        >>> stream_mask_range(stream(pairs))
        (0, 2)
    """

    def stats(image, mask):
        mask = tf.cast(mask, tf.float64)
        whole = tf.reduce_all(tf.math.is_finite(mask) & tf.equal(mask, tf.round(mask)))
        binary = tf.reduce_all((mask == 0) | (mask == 255)) & tf.reduce_any(mask == 255)
        mask = tf.where(binary, mask / 255, mask)  # read as 0/1, as `stream_mask_converter` does
        differ = tf.cast(tf.reduce_any(tf.shape(image)[:2] != tf.shape(mask)[:2]), tf.int64)
        return tf.reduce_min(mask), tf.reduce_max(mask), whole, differ

    def merge(total, item):
        return (
            tf.minimum(total[0], item[0]), tf.maximum(total[1], item[1]), total[2] & item[2], total[3] + item[3]
        )  # fmt: skip

    start = (np.float64(np.inf), np.float64(-np.inf), True, np.int64(0))
    low, high, whole, differ = stream.dataset().map(stats, num_parallel_calls=tf.data.AUTOTUNE).reduce(start, merge)
    if int(differ):
        raise ToolkitError(
            f"{int(differ)} image / mask pairs differ in size in the dataset.",
            expected="each mask the same height and width as its image",
            fix="resize the masks with nearest-neighbour interpolation, or fix the pairing",
        )
    if not bool(whole):
        raise ToolkitError(
            "The dataset's masks hold fractional, NaN or infinite values.",
            expected="whole class indices, not probabilities or one-hot scores",
            fix="map the masks to class indices (e.g. tf.argmax over classes)",
        )
    low, high = int(low), int(high)
    if low < 0 or high > 255:
        raise ToolkitError(
            f"The dataset's masks hold class index {low if low < 0 else high}.",
            expected="class indices from 0 to 255 (0/255 binary masks are read as 0/1)",
            fix="renumber the classes from 0; negative ids such as an 'ignore' label of -1 are not supported",
        )
    return low, high


def _from_tfds(spec, data_dir):
    """A TFDS segmentation dataset as a dataset of (image, mask) pairs (a stream, not read into memory)."""
    dataset, _ = tfds_lib.load_tfds(spec, data_dir, as_supervised=False)
    features = dataset.element_spec
    key = next((k for k in TFDS_MASK_KEYS if k in features and len(features[k].shape) in (2, 3)), None)
    if key is None or "image" not in features:
        raise ToolkitError(
            f"TFDS dataset {spec!r} has no image and segmentation-mask features (it has {sorted(features)}).",
            expected=f"an 'image' feature and a mask feature named one of {TFDS_MASK_KEYS}",
            fix="choose a segmentation dataset, or map it to a tf.data.Dataset of (image, mask) yourself",
        )
    return dataset.map(lambda example: (example["image"], example[key]))
