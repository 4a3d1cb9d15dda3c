"""Input adapters every task shares: named datasets, label encoding, checks, tf.data (hold-outs: `toolkit.splits`).

Task modules turn the user's data (paths, arrays, datasets, names) into
arrays with these helpers, then into batched, cached, prefetched
`tf.data.Dataset`s with `to_dataset`.
"""

import collections
import hashlib
import math
import os

import numpy as np
import tensorflow as tf

from toolkit.errors import ToolkitError
from toolkit.registry import Registry

# Built-in named datasets ("digits", ...): loaders that need no download.
DATASETS = Registry("dataset")


def built_in(*names):
    """{name: description} of registered built-in datasets: a task's `built_in_data`, from the one registry."""
    return {name: DATASETS.metadata(name).get("description", "") for name in names}


Splits = collections.namedtuple("Splits", ["train", "validation", "test", "info"])


def is_dataset_name(data):
    """True when `data` names a built-in dataset or a TFDS dataset, not a path.

    Examples:
        >>> is_dataset_name("tfds:mnist"), is_dataset_name("photos/")
        (True, False)
    """
    if not isinstance(data, str) or os.path.exists(data):
        return False
    return data.startswith("tfds:") or data in DATASETS


def unbatched(dataset, target_rank=0):
    """A dataset of (input, target) pairs, one example per element (unbatched when it was batched).

    Args:
        dataset: a `tf.data.Dataset` of (input, target) pairs, batched or not.
        target_rank: the rank of one unbatched target (0: a label; 2: a (height, width) mask).
            A target of one rank more is a batch, except an (height, width, 1) mask of known size.

    Examples:
        >>> ds = tf.data.Dataset.from_tensor_slices((np.zeros((5, 2)), np.arange(5))).batch(2)
        >>> unbatched(ds).element_spec[1].shape
        TensorShape([])
    """
    if not isinstance(dataset.element_spec, tuple) or len(dataset.element_spec) != 2:
        raise ToolkitError(
            f"The tf.data.Dataset yields {dataset.element_spec}.",
            expected="a dataset of (input, target) pairs",
            fix="map it to pairs, e.g. dataset.map(lambda d: (d['image'], d['label']))",
        )
    shape = dataset.element_spec[1].shape
    rank = shape.rank
    if rank is None or rank <= target_rank:
        batched = False
    elif rank == target_rank + 1 and target_rank >= 2 and shape[-1] == 1 and shape[0] is not None:
        batched = False  # one (height, width, 1) mask
    else:
        batched = True
    return dataset.unbatch() if batched else dataset


class Stream:
    """A `tf.data` source kept as a stream: the positions of the examples one part of it uses.

    The data is never pulled into memory: `dataset()` reads the source again and
    keeps the examples at `indices` (in order), so a split of a stream is a split
    of its positions. Each part reads the whole source once per pass.

    Examples:
        >>> source = tf.data.Dataset.from_tensor_slices((np.arange(6) * 10, np.arange(6)))
        >>> part = Stream(source, np.array([1, 4]), count=6)
        >>> [int(x) for x, _ in part.dataset()], len(part)
        ([10, 40], 2)
    """

    def __init__(self, source, indices, count):
        self.source = source
        self.indices = np.asarray(indices)
        self.count = int(count)

    def __len__(self):
        return len(self.indices)

    def part(self, indices):
        """The stream of the examples at positions `self.indices[indices]`."""
        return Stream(self.source, self.indices[np.asarray(indices)], self.count)

    def dataset(self):
        if len(self.indices) == self.count:
            return self.source.apply(tf.data.experimental.assert_cardinality(self.count))
        keep = np.zeros(self.count, dtype=bool)
        keep[self.indices] = True
        keep = tf.constant(keep)
        return (
            self.source.enumerate()
            .filter(lambda i, pair: tf.gather(keep, i))
            .map(lambda i, pair: pair, num_parallel_calls=tf.data.AUTOTUNE)
            # Known, so Keras and the schedules count steps without a pass (a filter hides the count).
            .apply(tf.data.experimental.assert_cardinality(len(self.indices)))
        )


def take(items, positions):
    """The examples of an index at `positions`: a part of a `Stream` (or of anything with `.part`),
    rows of an array, or items of a list. Every task splits positions, then takes its parts so.

    Examples:
        >>> take(np.array([10, 20, 30]), [2, 0]).tolist(), take(["a", "b", "c"], [1])
        ([30, 10], ['b'])
    """
    if hasattr(items, "part"):
        return items.part(positions)
    if isinstance(items, np.ndarray):
        return items[np.asarray(positions, dtype=int)]
    return [items[i] for i in positions]


def stream_targets(dataset, kind="example"):
    """The targets of a dataset of (input, target) pairs, in one streaming pass (inputs are not kept).

    Examples:
        >>> stream_targets(tf.data.Dataset.from_tensor_slices((np.zeros((3, 2)), [b"a", b"b", b"a"])))
        ['a', 'b', 'a']
    """
    targets = []
    for target in dataset.map(lambda x, y: y).as_numpy_iterator():
        targets.append(
            target.decode() if isinstance(target, bytes) else target.item() if hasattr(target, "item") else target
        )
    if not targets:
        raise ToolkitError(
            f"The tf.data.Dataset holds no {kind}s.", expected=f"a dataset of ({kind}, target) pairs", fix="check it"
        )
    return targets


def check_finite(examples, kind):
    """Raises a clear error when numeric examples hold NaN or infinity (they would train on garbage).

    Args:
        examples: the examples, one array each (a batch array is its examples along the first axis).
        kind: what they are ("image", "waveform"), for the message.

    Examples:
        >>> check_finite([np.zeros(3), np.array([0.0, np.nan, np.inf])], "waveform")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: The waveform data holds 2 NaN or infinite values (first in waveform 1).
        ...
    """
    bad, first = 0, None
    for i, example in enumerate(examples):
        example = np.asarray(example)
        if example.dtype.kind in "fc":
            count = int(example.size - np.count_nonzero(np.isfinite(example)))
            if count and first is None:
                first = i
            bad += count
    if bad:
        raise ToolkitError(
            f"The {kind} data holds {bad} NaN or infinite values (first in {kind} {first}).",
            expected=f"finite {kind} values",
            fix="replace or drop the examples with NaN / inf (e.g. np.nan_to_num, or a mask of np.isfinite)",
        )


def derived_seed(seed, name):
    """A seed for one random component (an augmentation layer, ...), derived from the run seed and its name.

    Components given the same seed draw the same numbers, so their random
    choices correlate (a flip and a rotation layer sharing one seed flip
    exactly when they turn one way); distinct derived seeds keep them
    independent while the run stays repeatable from `seed`.

    Examples:
        >>> derived_seed(0, "augment/flip") == derived_seed(0, "augment/flip") != derived_seed(0, "augment/rotation")
        True
    """
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def check_same_length(inputs, targets):
    """Raises a clear error when inputs and targets differ in length or are empty.

    Examples:
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

    Examples:
        >>> encode_labels(["cat", "dog", "cat"])
        (array([0, 1, 0]), ['cat', 'dog'])
    """
    labels = [label.decode() if isinstance(label, bytes) else label for label in labels]
    labels = [label.item() if isinstance(label, np.generic) else label for label in labels]
    missing = [i for i, label in enumerate(labels) if label is None or (isinstance(label, float) and math.isnan(label))]
    if missing:
        raise ToolkitError(
            f"{len(missing)} labels are missing (None or NaN), e.g. at positions {missing[:5]}.",
            expected="a label for every example",
            fix="drop those examples or fill in their labels",
        )
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


def to_dataset(inputs, targets, batch_size, shuffle=False, seed=0, map_fn=None, augment_fn=None):
    """Arrays -> batched, cached, prefetched `tf.data.Dataset`.

    `map_fn(x, y)` runs once before caching; `augment_fn(x, y, seed)` runs
    after it on every pass with a fresh stateless seed per example (a (2,)
    int64 tensor), so augmentation differs by epoch yet repeats by `seed`.

    Examples:
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
    if augment_fn is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda pair, s: augment_fn(pair[0], pair[1], s), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def cached_batches(dataset, count, batch_size, *, cache, shuffle, seed):
    """Examples -> batches: cached (when the caller found they fit), shuffled each epoch, prefetched.

    Cached examples shuffle in a buffer of up to 10,000; uncached ones (read again every epoch) in
    one of up to 1,000, so the buffer does not grow memory with the data.

    Examples:
        >>> ds = cached_batches(tf.data.Dataset.range(10), 10, 4, cache=True, shuffle=True, seed=0)
        >>> sorted(int(v) for batch in ds for v in batch)
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    if cache:
        dataset = dataset.cache()
    if shuffle:
        buffer = min(count, 10_000 if cache else 1000)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def describe(data):
    """A short description of user data for a run's info.

    Examples:
        >>> describe("photos/"), describe((np.zeros(3), [1, 2, 3]))
        ('photos/', 'tuple of arrays')
    """
    if isinstance(data, (str, os.PathLike)):
        return str(data)
    if isinstance(data, tf.data.Dataset):
        return "tf.data.Dataset"
    return f"{type(data).__name__} of arrays"


def require_two_classes(indices, classes):
    """Raises a clear error when the training labels hold fewer than two classes.

    Examples:
        >>> require_two_classes(np.array([0, 1]), ["a", "b"])
        >>> require_two_classes(np.array([1, 1]), ["a", "b"])
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: The training data has a single class ('b').
        ...
    """
    present = sorted(set(np.asarray(indices).tolist()))
    if len(present) < 2:
        raise ToolkitError(
            f"The training data has a single class ({classes[present[0]]!r}).",
            expected="at least two classes",
            fix="add examples of the other classes",
        )
