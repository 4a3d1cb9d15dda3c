"""What image classification learns from the training part (class names, image size, channels) and the
tf.data pipeline that decodes, resizes and batches any part at that size."""

import os
import warnings

import numpy as np

from toolkit import data as data_lib
from toolkit import image_streams
from toolkit.preprocessing import Preprocessor


class ImageBatches(Preprocessor):
    """What image preprocessors share once adapted: images as the datasets read them, batches of any part,
    and model inputs from what a user holds. Subclasses learn `classes`, `image_size` and `channels` in
    `adapt` and give each example's class index (`labels`)."""

    state_attributes = ("classes", "image_size", "channels")
    size_source = "as given"  # how `adapt` chose the size, said before training

    def labels(self, index):
        """The class index of each example of a part."""
        raise NotImplementedError(f"{type(self).__name__} must implement labels(index)")

    def images(self, images, verbose=False):
        """Images as read -> what datasets read: file paths, a Stream, or uint8 arrays at the training size."""
        if _are_paths(images):
            return np.array([str(p) for p in images])  # decoded inside tf.data
        if isinstance(images, data_lib.Stream):
            return images  # positions in the stream
        return image_streams.to_array(images, tuple(self.image_size), self.channels, verbose=verbose)

    def dataset(self, index, *, training=False, batch_size=32, seed=0):
        """A batched dataset of (float32 images 0..255, class indices) (see `image_streams.batched_dataset`)."""
        dataset, files = image_streams.batched_dataset(
            self.images(index.inputs), self.labels(index), tuple(self.image_size), self.channels, batch_size,
            shuffle=training, seed=seed,
        )  # fmt: skip
        self.files += files
        return dataset

    def inputs(self, raw, stream_batch=None):
        """File paths, one image or a batch of images -> a float32 batch at the training size; more than
        `stream_batch` files -> a generator of batches, decoded while the model predicts on the one before."""
        if isinstance(raw, (str, os.PathLike)):
            raw = [raw]
        if stream_batch and _are_paths(raw) and len(raw) > stream_batch:
            return image_streams.float_batches(raw, tuple(self.image_size), self.channels, stream_batch)
        if not isinstance(raw, (list, tuple)):
            # (H, W) and (H, W, 1) are one grey image, (H, W, 3 or 4) one colour image; any other
            # 3-D array is a batch of grey images (N, H, W).
            array = np.asarray(raw)
            one = array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))
            raw = array[None] if one else array
        elif raw and isinstance(raw[0], os.PathLike):
            raw = [str(p) for p in raw]
        return image_streams.to_array(raw, tuple(self.image_size), self.channels, verbose=False).astype("float32")


class ImagePreprocessor(ImageBatches):
    """Learns the training size and channels from the training images, and batches any part at them.

    Args:
        image_size: (height, width) to train at, or None for the training images' own size (their median
            when sizes differ, capped at `image_streams.SCRATCH_MAX_SIDE` when `cap` is set).
        rgb: read every image as colour (pretrained backbones and colour models need three channels).
        cap: cap the learned size (a from-scratch backbone); ignored when `image_size` is given.
        seed: seeds the sample of file headers the size is learned from.

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> images = np.zeros((4, 8, 8, 1), np.uint8)
        >>> preprocessor = ImagePreprocessor()
        >>> preprocessor.adapt(Index(images, ["a", "b", "a", "b"], classes=["a", "b"]))
        >>> preprocessor.classes, preprocessor.image_size, preprocessor.channels
        (['a', 'b'], (8, 8), 1)
        >>> [tuple(x.shape) for x, _ in preprocessor.dataset(Index(images, ["a", "b", "b", "a"]), batch_size=3)]
        [(3, 8, 8, 1), (1, 8, 8, 1)]
    """

    def __init__(self, *, image_size=None, rgb=False, cap=True, seed=0):
        super().__init__(image_size=image_size, rgb=rgb, cap=cap, seed=seed)

    def adapt(self, index):
        self.classes = list(index.classes) if index.classes is not None else data_lib.encode_labels(index.targets)[1]
        images = index.inputs
        # Sizes and channels come from a bounded sample of file headers, not from every file.
        sample = image_streams.header_sample(images, self.config["seed"]) if _are_paths(images) else images
        requested = self.config["image_size"]
        size, channels = image_streams.choose_size_and_channels(sample, requested)
        self.size_source = "as given" if requested is not None else "the images' own size (median)"
        if requested is None and self.config["cap"] and image_streams.capped_size(size) != size:
            size = image_streams.capped_size(size)
            self.size_source = (
                f"the images' median size, capped at {image_streams.SCRATCH_MAX_SIDE} px a side for a from-scratch "
                "backbone"
            )
        self.image_size, self.channels = tuple(size), 3 if self.config["rgb"] else channels
        data_lib.require_two_classes(self.encode(index.targets), self.classes)
        if not _are_paths(images) and not isinstance(images, data_lib.Stream) and len(images):
            if max(float(np.max(image)) for image in images[:256]) <= 1:  # the arrays as given, not resized again
                warnings.warn(
                    "The images' pixel values are all 0 or 1. The model expects 0..255 pixels; "
                    "if your arrays are scaled to [0, 1], multiply them by 255.",
                    stacklevel=2,
                )

    def encode(self, targets):
        """Labels -> class indices (an unknown label is a clear error)."""
        return data_lib.encode_labels(targets, self.classes)[0]

    def labels(self, index):
        """The class index of each example of a part."""
        return self.encode(index.targets)


def _are_paths(images):
    return not isinstance(images, data_lib.Stream) and len(images) > 0 and isinstance(images[0], (str, os.PathLike))
