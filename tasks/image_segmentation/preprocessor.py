"""What segmentation learns from the training part (class names, image size, channels) and the tf.data
pipeline of (image, mask) pairs: decoded, resized, cached where they fit, augmented together."""

import os

import numpy as np
import tensorflow as tf

from tasks.image_segmentation import augment as augment_lib
from tasks.image_segmentation import data as seg_data
from toolkit import data as data_lib
from toolkit import image_streams
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Preprocessor

MAX_SIDE = 256  # a learned size is at most this many pixels a side


class SegmentationPreprocessor(Preprocessor):
    """Learns the classes, training size and channels; batches any part as (float32 images, int32 masks).

    Args:
        image_size: (height, width) to train at, or None for the training images' median, at most
            `MAX_SIDE` a side, rounded down to a multiple of `multiple`.
        multiple: what the learned sides divide by (2**depth for a U-Net, 32 for an encoder).
        rgb: read every image as colour (pretrained backbones take three channels).
        class_names: names of the class indices, or None for those the source names ("0", "1", ... when none).
        augment: training augmentations applied to image and mask together.
        seed: seeds the sample of headers sizes are learned from, and the augmentation.

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> images, masks = np.zeros((4, 40, 40, 1), np.uint8), np.zeros((4, 40, 40), np.uint8)
        >>> masks[:, :10] = 1
        >>> preprocessor = SegmentationPreprocessor(multiple=16)
        >>> preprocessor.adapt(Index(images, masks, classes=["0", "1"]))
        >>> preprocessor.classes, preprocessor.image_size, preprocessor.channels
        (['0', '1'], (32, 32), 1)
    """

    state_attributes = ("classes", "image_size", "channels")

    def __init__(self, *, image_size=None, multiple=16, rgb=False, class_names=None, augment=(), seed=0):
        super().__init__(
            image_size=image_size, multiple=multiple, rgb=rgb, class_names=class_names, augment=list(augment), seed=seed
        )

    def adapt(self, index):
        names = self.config["class_names"]
        self.classes = [str(n) for n in names] if names else list(index.classes)
        if len(index.classes) > len(self.classes):
            raise ToolkitError(
                f"The masks hold class index {len(index.classes) - 1}, but {len(self.classes)} class names were given.",
                expected=f"indices 0..{len(self.classes) - 1}",
                fix="give a name for every class index, or check the masks",
            )
        data_lib.require_two_classes(np.unique(mask_range(index.inputs, index.targets)), self.classes)
        images = index.inputs
        stream = isinstance(images, data_lib.Stream)
        sample = (
            images if stream or not _are_paths(images) else image_streams.header_sample(images, self.config["seed"])
        )
        size = self.config["image_size"]
        if size is None:
            if stream:
                sizes = np.array(image_streams.stream_sizes(images.dataset())[0])
            else:
                sizes = np.array([seg_data.original_size(image) for image in sample])
            multiple = self.config["multiple"]
            size = [max(multiple, min(MAX_SIDE, int(np.median(sizes[:, i]))) // multiple * multiple) for i in (0, 1)]
        size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
        _, channels = image_streams.choose_size_and_channels(images if stream else sample[:50], size, verbose=False)
        self.image_size, self.channels = size, 3 if (self.config["rgb"] or channels == 3) else 1

    def pairs(self, images, masks):
        """The index datasets read: [image paths, mask paths], [uint8 images, uint8 masks] at the training
        size (arrays the user passed are in memory already), or [a Stream of (image, mask)]."""
        if isinstance(images, data_lib.Stream):
            return [images]
        if _are_paths(images) and _are_paths(masks):
            return [np.array([str(p) for p in images]), np.array([str(p) for p in masks])]
        x = image_streams.to_array(_plain(images), self.image_size, self.channels, verbose=False)
        return [x, np.stack([seg_data.read_mask(mask, self.image_size) for mask in masks])]

    def dataset(self, index, *, training=False, batch_size=4, seed=0):
        """One part -> a batched dataset of (float32 images, int32 masks).

        Files are decoded inside tf.data; decoded uint8 pairs are cached in memory only when they fit
        `image_streams.MEMORY_CACHE_BYTES`, so memory stays flat as the folder grows.
        """
        if len(index.classes or ()) > len(self.classes):
            raise ToolkitError(
                f"The masks hold class index {len(index.classes) - 1}, unknown to this model ({len(self.classes)} "
                "classes).",
                expected=f"indices 0..{len(self.classes) - 1}",
                fix="check the evaluation masks",
            )
        part = self.pairs(index.inputs, index.targets)
        size, channels = tuple(self.image_size), self.channels
        first, count = part[0], len(part[0])
        stream = isinstance(first, data_lib.Stream)
        on_disk = stream or first.dtype.kind in "US"
        cache = not on_disk or image_streams.fits_in_memory(count, size, channels + 1)
        if stream:
            spec = first.source.element_spec
            image = image_streams.stream_image_converter(spec[0].shape, size, channels)
            mask = seg_data.stream_mask_converter(spec[1].shape, size)
            dataset = first.dataset().map(lambda x, m: (image(x), mask(m)), num_parallel_calls=tf.data.AUTOTUNE)
        elif on_disk:
            self.files += first.tolist()
            # Uncached, the paths are shuffled (cheap), not decoded images.
            dataset = image_streams.file_dataset(
                first, part[1], size, channels, shuffle_seed=seed if training and not cache else None
            ).map(lambda x, path: (x, _decode_mask(path, size)), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            dataset = tf.data.Dataset.from_tensor_slices((part[0], part[1]))
        if cache:
            dataset = dataset.cache()
        if training and (cache or stream):
            dataset = dataset.shuffle(min(count, 1000 if stream else 10_000), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.map(
            lambda x, m: (tf.cast(x, "float32"), tf.cast(m, "int32")), num_parallel_calls=tf.data.AUTOTUNE
        )
        names = tuple(self.config["augment"])
        if training and names:
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            dataset = tf.data.Dataset.zip((dataset, seeds)).map(
                lambda pair, seed: augment_lib.augment_pair(pair[0], pair[1], seed, names),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def inputs(self, raw, stream_batch=None):
        """Image paths or arrays (a list) -> a float32 batch at the training size; more than `stream_batch`
        files -> a generator of batches, decoded while the model predicts on the one before."""
        raw = _plain(raw)
        if stream_batch and len(raw) > stream_batch and isinstance(raw[0], str):
            return image_streams.float_batches(raw, tuple(self.image_size), self.channels, stream_batch)
        return image_streams.to_array(raw, tuple(self.image_size), self.channels, False).astype("float32")


def mask_range(images, masks):
    """(smallest, largest) class index of the masks, after checking each pair's sizes; mask files and
    arrays are read (and checked) one at a time, a stream in one pass."""
    if isinstance(images, data_lib.Stream):
        return seg_data.stream_mask_range(images)
    seg_data.check_pairs(images, masks)
    low, high = 255, 0
    for mask in masks:
        smallest, largest = _extremes(str(mask) if isinstance(mask, (str, os.PathLike)) else mask)
        low, high = min(low, smallest), max(high, largest)
    return low, high


# A mask file's (smallest, largest) class index by (path, modification time, size): reading the data and
# adapting on its training part both ask, and a mask is decoded once (a changed file is read again).
_EXTREMES = {}
_EXTREMES_MOST = 200_000


def _extremes(mask):
    if not isinstance(mask, str):
        array = seg_data.read_mask(mask)
        return int(array.min(initial=255)), int(array.max(initial=0))
    stat = os.stat(mask)
    key = (mask, stat.st_mtime_ns, stat.st_size)
    if key not in _EXTREMES:
        if len(_EXTREMES) >= _EXTREMES_MOST:
            _EXTREMES.clear()
        array = seg_data.read_mask(mask)
        _EXTREMES[key] = (int(array.min(initial=255)), int(array.max(initial=0)))
    return _EXTREMES[key]


def _plain(items):
    return [str(i) if isinstance(i, os.PathLike) else i for i in items]


def _are_paths(items):
    return not isinstance(items, data_lib.Stream) and len(items) > 0 and isinstance(items[0], (str, os.PathLike))


def _decode_mask(path, size):
    """A mask file read inside tf.data (PIL keeps palette indices, which TF's PNG decoder turns into colours),
    resized by nearest neighbour. The masks were checked before training, so this does not raise."""
    mask = tf.numpy_function(lambda p: seg_data.read_mask(p.decode()), [path], tf.uint8, stateful=False)
    mask = tf.ensure_shape(mask, (None, None))
    return tf.cast(tf.image.resize(mask[..., None], size, method="nearest")[..., 0], tf.uint8)
