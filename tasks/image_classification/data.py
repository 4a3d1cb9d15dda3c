"""Image classification inputs: every accepted form -> (images, labels, class names)."""

import os

import numpy as np
import tensorflow as tf

from toolkit import data as data_lib
from toolkit import image_files, readers
from toolkit import tfds as tfds_lib
from toolkit.errors import ToolkitError

ACCEPTED = (
    "a folder of class subfolders, a CSV file of path,label, an (images, labels) tuple, "
    "a tf.data.Dataset of (image, label), 'digits', or 'tfds:NAME'"
)


@data_lib.DATASETS.register(
    "digits",
    task="image-classification",
    description="scikit-learn's 1,797 8x8 handwritten digits (bundled, no download)",
)
def digits():
    """scikit-learn's bundled 8x8 digits as 0..255 greyscale images with labels "0".."9".

    Examples:
        >>> x, y, classes = digits()
        >>> x.shape, x.dtype, classes[:3]
        ((1797, 8, 8, 1), dtype('uint8'), ['0', '1', '2'])
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # The pixels are 0..16 ink counts; scale to 0..255 like any image.
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    return images, [str(t) for t in bunch.target], [str(i) for i in range(10)]


def load_source(data, data_dir=None):
    """Returns (images, labels, class_names): images are file paths, arrays, or a `toolkit.data.Stream`
    (for a tf.data.Dataset or TFDS source, never pulled into memory); class_names may be None.

    Examples:
        >>> images, labels, classes = load_source((np.zeros((4, 8, 8)), ["a", "b", "a", "b"]))
        >>> len(images), labels, classes
        (4, ['a', 'b', 'a', 'b'], None)
        >>> load_source("no/such/folder")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Data path 'no/such/folder' does not exist.
        ...
    """
    if isinstance(data, tf.data.Dataset):
        # Kept a stream: one pass reads the labels; images are decoded again when training reads them.
        source = data_lib.unbatched(data)
        labels = data_lib.stream_targets(source, "image")
        return data_lib.Stream(source, np.arange(len(labels)), len(labels)), labels, None
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], str):
        images, labels = data
        images = images if isinstance(images, np.ndarray) else list(images)
        labels = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
        return images, labels, None
    if isinstance(data, str) and data_lib.is_dataset_name(data):
        if data.startswith("tfds:"):
            dataset, names = tfds_lib.load_tfds(data, data_dir)
            source = data_lib.unbatched(dataset)
            labels = data_lib.stream_targets(source, "image")
            if names:
                labels = [names[int(label)] for label in labels]
            return data_lib.Stream(source, np.arange(len(labels)), len(labels)), labels, names
        return data_lib.DATASETS.get(data)()
    if isinstance(data, (str, os.PathLike)):
        path = readers.existing_path(data, ACCEPTED)
        if path.is_dir():
            return image_files.list_class_folders(path)
        if path.suffix.lower() == ".csv":
            return readers.read_manifest(path, "image") + (None,)
        raise ToolkitError(
            f"Cannot use file '{path}' as image classification data.",
            expected=ACCEPTED,
            fix="pass a folder of class subfolders or a .csv manifest",
        )
    raise ToolkitError(
        f"Cannot use {type(data).__name__} as image classification data.",
        expected=ACCEPTED,
        fix="convert the data to one of those forms",
    )
