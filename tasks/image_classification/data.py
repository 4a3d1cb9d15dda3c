"""Image classification inputs: every accepted form -> (images, labels, class names)."""

import csv
import os
import pathlib

import numpy as np
import tensorflow as tf

from toolkit import data as data_lib
from toolkit import images as images_lib
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

    Example:
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
    """Returns (images, labels, class_names): images are file paths or arrays; class_names may be None.

    Example:
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
        images, labels = data_lib.dataset_to_arrays(data)
        return images, labels, None
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], str):
        images, labels = data
        images = images if isinstance(images, np.ndarray) else list(images)
        labels = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
        return images, labels, None
    if isinstance(data, str) and data_lib.is_dataset_name(data):
        if data.startswith("tfds:"):
            dataset, names = data_lib.load_tfds(data, data_dir)
            images, labels = data_lib.dataset_to_arrays(dataset)
            if names:
                labels = [names[int(label)] for label in labels]
            return images, labels, names
        return data_lib.DATASETS.get(data)()
    if isinstance(data, (str, os.PathLike)):
        path = pathlib.Path(data)
        if not path.exists():
            raise ToolkitError(
                f"Data path '{path}' does not exist.",
                expected=ACCEPTED,
                fix="check the path (relative paths start from the current folder)",
            )
        if path.is_dir():
            return images_lib.list_class_folders(path)
        if path.suffix.lower() == ".csv":
            return read_manifest(path)
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


def read_manifest(path):
    """Reads `path,label` rows (a header row is optional); relative paths start at the CSV's folder.

    Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (8, 8)).save(folder / "cat1.png")
    >>> _ = (folder / "labels.csv").write_text("path,label\\ncat1.png,cat\\n")
    >>> paths, labels, _ = read_manifest(folder / "labels.csv")
    >>> pathlib.Path(paths[0]).name, labels
    ('cat1.png', ['cat'])
    """
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    if rows and rows[0][0].strip().lower() in ("path", "file", "filename", "image"):
        rows = rows[1:]
    bad = [i + 1 for i, row in enumerate(rows) if len(row) < 2]
    if not rows or bad:
        raise ToolkitError(
            f"CSV file '{path}' has {'no rows' if not rows else f'rows without a label (lines {bad[:5]})'}.",
            expected="rows of path,label (a 'path,label' header is optional)",
            fix="add the label column",
        )
    paths = [str((path.parent / row[0].strip()).resolve()) for row in rows]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise ToolkitError(
            f"{len(missing)} image files listed in '{path}' do not exist, e.g. '{missing[0]}'.",
            expected="paths to existing images, absolute or relative to the CSV file",
            fix="correct the paths in the CSV file",
        )
    return paths, [row[1].strip() for row in rows], None
