"""Input adapters every task shares: named datasets, TFDS, splits, tf.data.

Task modules turn the user's data (paths, arrays, datasets, names) into
arrays with these helpers, then into batched, cached, prefetched
`tf.data.Dataset`s with `to_dataset`.
"""

import collections
import os

import numpy as np
import tensorflow as tf

from toolkit.errors import ToolkitError
from toolkit.registry import Registry

# Built-in named datasets ("digits", ...): loaders that need no download.
DATASETS = Registry("dataset")

Splits = collections.namedtuple("Splits", ["train", "validation", "test", "info"])


def is_dataset_name(data):
    """True when `data` names a built-in dataset or a TFDS dataset, not a path.

    Example:
    >>> is_dataset_name("tfds:mnist"), is_dataset_name("photos/")
    (True, False)
    """
    if not isinstance(data, str) or os.path.exists(data):
        return False
    return data.startswith("tfds:") or data in DATASETS


def load_tfds(spec, data_dir=None):
    """Loads ``"tfds:NAME[:SPLIT]"`` as an (input, label) dataset.

    Args:
        spec: ``"tfds:mnist"`` (split ``train``) or ``"tfds:mnist:test"``.
        data_dir: folder TFDS reads from and downloads into.

    Returns:
        (dataset, label_names): a `tf.data.Dataset` of (input, label) pairs,
        and the label names TFDS knows (or None).

    Example:
    >>> ds, names = load_tfds("tfds:mnist")  # doctest: +SKIP
    """
    import tensorflow_datasets as tfds

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise ToolkitError(
            f"Cannot read the TFDS dataset name {spec!r}.",
            expected="'tfds:NAME' or 'tfds:NAME:SPLIT', e.g. 'tfds:mnist' or 'tfds:mnist:test'",
            fix="write the dataset name after 'tfds:'",
        )
    name = parts[1]
    split = parts[2] if len(parts) == 3 else "train"
    fix = (
        f"on a machine with network access run `tfds build {name}` (or tfds.load once) and pass "
        "data_dir= pointing at that folder; check the name at https://www.tensorflow.org/datasets/catalog"
    )
    try:
        try:
            # Already prepared under data_dir: no network needed.
            dataset, info = tfds.load(
                name, split=split, data_dir=data_dir, as_supervised=True, with_info=True, download=False
            )
        except AssertionError:  # TFDS's "dataset not found in data_dir"
            if not _download_host_resolves():
                raise ToolkitError(
                    f"TFDS dataset {name!r} is not prepared under data_dir={data_dir!r} and the network is unreachable.",
                    expected="a TFDS dataset already prepared under data_dir, or network access to download it",
                    fix=fix,
                ) from None
            print(f"Downloading and preparing TFDS dataset {name!r}...")
            dataset, info = tfds.load(name, split=split, data_dir=data_dir, as_supervised=True, with_info=True)
    except ToolkitError:
        raise
    except Exception as error:  # TFDS raises many types: network, missing files, bad names
        raise ToolkitError(
            f"Could not load TFDS dataset {name!r} (split {split!r}): {type(error).__name__}: {error}",
            expected="a TFDS dataset already prepared under data_dir, or network access to download it",
            fix=fix,
        ) from error
    label_names = None
    label_feature = info.features[info.supervised_keys[1]] if info.supervised_keys else None
    if label_feature is not None and hasattr(label_feature, "names"):
        label_names = list(label_feature.names)
    return dataset, label_names


def _download_host_resolves(host="storage.googleapis.com"):
    """Quick offline check before a TFDS download.

    TFDS retries failed downloads ten times with exponential backoff, so an
    offline machine would wait about three minutes for its error; a failed
    name lookup of TFDS's storage host tells the same in milliseconds.
    """
    import socket

    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def dataset_to_arrays(dataset):
    """Collects a (possibly batched) dataset of (input, target) pairs into two lists.

    Example:
    >>> ds = tf.data.Dataset.from_tensor_slices((np.zeros((5, 2)), np.arange(5))).batch(2)
    >>> inputs, targets = dataset_to_arrays(ds)
    >>> len(inputs), [int(t) for t in targets]
    (5, [0, 1, 2, 3, 4])
    """
    if not isinstance(dataset.element_spec, tuple) or len(dataset.element_spec) != 2:
        raise ToolkitError(
            f"The tf.data.Dataset yields {dataset.element_spec}.",
            expected="a dataset of (input, target) pairs",
            fix="map it to pairs, e.g. dataset.map(lambda d: (d['image'], d['label']))",
        )
    batched = dataset.element_spec[1].shape.rank not in (0, None)
    if batched:
        dataset = dataset.unbatch()
    inputs, targets = [], []
    for x, y in dataset.as_numpy_iterator():
        inputs.append(x)
        targets.append(y)
    return inputs, targets


def check_same_length(inputs, targets):
    """Raises a clear error when inputs and targets differ in length or are empty.

    Example:
    >>> check_same_length([1, 2], ["a", "b"])
    >>> check_same_length([1, 2], ["a"])
    Traceback (most recent call last):
    ...
    toolkit.errors.ToolkitError: Got 2 inputs but 1 targets.
    ...
    """
    if len(inputs) != len(targets):
        raise ToolkitError(
            f"Got {len(inputs)} inputs but {len(targets)} targets.",
            expected="one target per input",
            fix="pass (inputs, targets) of the same length",
        )
    if len(inputs) == 0:
        raise ToolkitError(
            "The data holds no examples.",
            expected="at least a few examples of each class",
            fix="check the data you passed",
        )


def encode_labels(labels, classes=None):
    """Maps labels to indices. Returns (indices, classes).

    With `classes` given (training's classes), an unknown label is an error.

    Example:
    >>> encode_labels(["cat", "dog", "cat"])
    (array([0, 1, 0]), ['cat', 'dog'])
    """
    labels = [label.decode() if isinstance(label, bytes) else label for label in labels]
    labels = [label.item() if isinstance(label, np.generic) else label for label in labels]
    if classes is None:
        classes = sorted(set(labels), key=lambda label: (str(type(label)), label))
    index = {label: i for i, label in enumerate(classes)}
    unknown = sorted({str(label) for label in labels if label not in index})
    if unknown:
        raise ToolkitError(
            f"Labels {unknown[:10]} do not occur in the training data.",
            expected=f"labels among the training classes {list(classes)[:20]}",
            fix="check the labels of the evaluation or validation data",
        )
    return np.array([index[label] for label in labels]), list(classes)


def split(arrays, labels, fraction, seed):
    """Seeded split of parallel arrays into (kept, held_out), stratified by label when possible.

    Returns:
        (kept_arrays, kept_labels, held_arrays, held_labels, stratified)

    Example:
    >>> x = np.arange(20); y = np.array([0, 1] * 10)
    >>> kx, ky, hx, hy, strat = split([x], y, 0.2, seed=0)
    >>> len(hx[0]), strat
    (4, True)
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels)
    held = int(round(len(labels) * fraction))
    # Stratifying needs every class in both parts; tiny classes make that impossible.
    stratified = counts[counts > 0].min() >= 2 and held >= len(counts[counts > 0])
    indices = np.arange(len(labels))
    kept, held_out = train_test_split(
        indices, test_size=fraction, random_state=seed, stratify=labels if stratified else None
    )
    kept.sort()
    held_out.sort()
    take = lambda idx: [a[idx] for a in arrays]  # noqa: E731
    return take(kept), labels[kept], take(held_out), labels[held_out], bool(stratified)


def to_dataset(inputs, targets, batch_size, shuffle=False, seed=0, map_fn=None):
    """Arrays -> batched, cached, prefetched `tf.data.Dataset`.

    Example:
    >>> ds = to_dataset(np.zeros((10, 2)), np.zeros(10), batch_size=4)
    >>> [int(x.shape[0]) for x, _ in ds]
    [4, 4, 2]
    """
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if map_fn is not None:
        dataset = dataset.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(min(len(targets), 10_000), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
