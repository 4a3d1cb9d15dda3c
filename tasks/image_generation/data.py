"""Image generation inputs: every accepted form -> (images, labels or None, class names or None).

Labels are optional here: a folder of class subfolders, an (images, labels) tuple or a
labelled dataset enable the class-conditional GAN; a flat folder of images, a bare
array or a dataset of images alone train unconditional models.
"""

import os
import pathlib

import numpy as np
import tensorflow as tf

from tasks.image_classification import data as classification_data
from tasks.image_classification.preprocessor import _are_paths as are_paths
from toolkit import data as data_lib
from toolkit import image_files, image_streams, readers
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index

ACCEPTED = (
    "a folder of images (class subfolders optional), an array of images, an (images, labels) tuple, "
    "a tf.data.Dataset of images or (image, label) pairs, 'digits', or 'tfds:NAME'"
)
MIN_IMAGES = 10  # fewer cannot give a training part and a validation part to stop on


def read(data, data_dir=None):
    """Any accepted data -> a `toolkit.preprocessing.Index` of images (labels, and class names, when it has them)."""
    images, labels, names = load_source(data, data_dir)
    if not isinstance(images, data_lib.Stream) and not are_paths(images):
        data_lib.check_finite(images, "image")
    if labels is None:
        return Index(images, np.zeros(len(images), int), None, data_lib.describe(data), None)
    data_lib.check_same_length(images, labels)
    y, classes = data_lib.encode_labels(labels, names)
    return Index(images, labels, y, data_lib.describe(data), names or classes)


def load_source(data, data_dir=None):
    """Returns (images, labels or None, class_names or None); images are paths, arrays or a `toolkit.data.Stream`.

    Examples:
        >>> images, labels, names = load_source(np.zeros((12, 8, 8)))
        >>> len(images), labels, names
        (12, None, None)
    """
    if isinstance(data, tf.data.Dataset):
        if isinstance(data.element_spec, tuple):
            return classification_data.load_source(data)
        # Images alone: a constant label keeps the one pipeline of (image, label) pairs.
        images = data.element_spec
        source = data.unbatch() if images.shape.rank == 4 else data
        source = source.map(lambda image: (image, tf.constant(0, "int32")))
        count = int(source.reduce(0, lambda n, _: n + 1))
        _check_count(count, "The tf.data.Dataset")
        return data_lib.Stream(source, np.arange(count), count), None, None
    if isinstance(data, np.ndarray) and data.dtype != object:
        _check_count(len(data), "The image array")
        return data, None, None
    if isinstance(data, (str, os.PathLike)) and not data_lib.is_dataset_name(data):
        path = readers.existing_path(data, ACCEPTED)
        if path.is_dir():
            return _folder(path)
        raise ToolkitError(
            f"Cannot use file '{path}' as image generation data.",
            expected=ACCEPTED,
            fix="pass the folder that holds the images",
        )
    if not (isinstance(data, (tuple, list)) and len(data) == 2 or isinstance(data, str)):
        raise ToolkitError(
            f"Cannot use {type(data).__name__} as image generation data.",
            expected=ACCEPTED,
            fix="convert the data to one of those forms",
        )
    images, labels, names = classification_data.load_source(data, data_dir)
    _check_count(len(images), f"The data {data_lib.describe(data)!r}")
    return images, labels, names


def _folder(path):
    """A folder of class subfolders (labelled), or of images directly inside it (unlabelled)."""
    subfolders = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if subfolders:
        images, labels, names = image_files.list_class_folders(path)
    else:
        images = sorted(str(p) for p in path.iterdir() if p.is_file() and image_files.is_image_file(p))
        labels = names = None
    _check_count(len(images), f"Folder '{path}'")
    return images, labels, names


def _check_count(count, what):
    if count < MIN_IMAGES:
        raise ToolkitError(
            f"{what} holds {count} image{'s' if count != 1 else ''}.",
            expected=f"at least {MIN_IMAGES} images: a generative model learns a distribution of images, and "
            "part of them is held out to stop training on",
            fix="add more images (hundreds for a useful model), or point to the folder that holds them",
        )


def check_channels(images, channels):
    """With `channels` fixed, every sampled image must have that many: mixed data is a clear error, not a silent
    conversion (a greyscale model fed colour photos, or the reverse, is a mistake a user wants to hear about).

    Examples:
        >>> check_channels(np.zeros((3, 8, 8, 3)), 1)
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Image 0 has 3 channels but channels=1.
        ...
    """
    if channels is None:
        return
    if len(images) and isinstance(images[0], (str, os.PathLike)):
        for path in images:
            _, found = image_files.peek(path)
            if found != channels:
                _channel_error(f"Image file '{pathlib.Path(path)}'", found, channels)
        return
    if isinstance(images, data_lib.Stream):
        _, found = image_streams.stream_sizes(images.dataset())
        if found != channels:
            _channel_error("The dataset's images", found, channels)
        return
    for i, image in enumerate(images if not isinstance(images, np.ndarray) or images.ndim == 4 else images[..., None]):
        image = np.asarray(image)
        found = 1 if image.ndim == 2 or image.shape[-1] == 1 else 3
        if found != channels:
            _channel_error(f"Image {i}", found, channels)


def _channel_error(what, found, channels):
    raise ToolkitError(
        f"{what} has {found} channel{'s' if found != 1 else ''} but channels={channels}.",
        expected=f"images with {channels} channel{'s' if channels != 1 else ''} ({'grey' if channels == 1 else 'colour'}),"
        " since channels= fixes it",
        fix="convert those images, or pass channels=None to take the channels from the data "
        "(colour when any image is colour)",
    )
