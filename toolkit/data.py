"""Input adapters every task shares: named datasets, TFDS, splits, tf.data.

Task modules turn the user's data (paths, arrays, datasets, names) into
arrays with these helpers, then into batched, cached, prefetched
`tf.data.Dataset`s with `to_dataset`.
"""

import collections
import csv
import hashlib
import json
import math
import os
import pathlib
import sys
import warnings

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


def load_tfds(spec, data_dir=None, as_supervised=True):
    """Loads ``"tfds:NAME[:SPLIT]"`` as an (input, label) dataset (or a dataset of feature dicts).

    Args:
        spec: ``"tfds:mnist"`` (split ``train``) or ``"tfds:mnist:test"``.
        data_dir: folder TFDS reads from and downloads into.
        as_supervised: (input, label) pairs; False gives dicts of all features.

    Returns:
        (dataset, label_names): a `tf.data.Dataset` of (input, label) pairs,
        and the label names TFDS knows (or None).

    Examples:
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
                name, split=split, data_dir=data_dir, as_supervised=as_supervised, with_info=True, download=False
            )
        except AssertionError:  # TFDS's "dataset not found in data_dir"
            if not _download_host_resolves():
                raise ToolkitError(
                    f"TFDS dataset {name!r} is not prepared under data_dir={data_dir!r} and the network is unreachable.",
                    expected="a TFDS dataset already prepared under data_dir, or network access to download it",
                    fix=fix,
                ) from None
            print(f"Downloading and preparing TFDS dataset {name!r}...", file=sys.stderr)
            dataset, info = tfds.load(name, split=split, data_dir=data_dir, as_supervised=as_supervised, with_info=True)
    except ToolkitError:
        raise
    except Exception as error:  # TFDS raises many types: network, missing files, bad names
        raise ToolkitError(
            f"Could not load TFDS dataset {name!r} (split {split!r}): {type(error).__name__}: {error}",
            expected="a TFDS dataset already prepared under data_dir, or network access to download it",
            fix=fix,
        ) from error
    label_names = None
    label_feature = info.features[info.supervised_keys[1]] if as_supervised and info.supervised_keys else None
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


def split(arrays, labels, fraction, seed, method="auto", groups=None):
    """Seeded split of parallel arrays (NumPy arrays or lists) into (kept, held_out); see `toolkit.splits`.

    Returns:
        (kept_arrays, kept_labels, held_arrays, held_labels, how, kept_groups)

    Examples:
        >>> x = np.arange(20); y = np.array([0, 1] * 10)
        >>> kx, ky, hx, hy, how, _ = split([x], y, 0.2, seed=0)
        >>> len(hx[0]), how
        (4, 'stratified')
    """
    from toolkit.splits import split_indices

    labels = np.asarray(labels)
    kept, held_out, how = split_indices(len(labels), fraction, seed=seed, method=method, labels=labels, groups=groups)
    take = lambda idx: [a[idx] if isinstance(a, np.ndarray) else [a[i] for i in idx] for a in arrays]  # noqa: E731
    kept_groups = None if groups is None else np.asarray(groups)[kept]
    return take(kept), labels[kept], take(held_out), labels[held_out], how, kept_groups


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


class DataPosition:
    """Where a training dataset is in its sequence of epochs, so that a resumed run reads what an
    uninterrupted one would have.

    A seeded `shuffle(..., reshuffle_each_iteration=True)` (and a seeded `Dataset.random`) draws a new
    order from a generator each time an iterator over it is made; a new process starts that generator
    again, so a run resumed at epoch k would read epoch 0's order. tf.data cannot save a generator's
    state, and Keras makes more iterators than it reads (one is made and dropped at each epoch's end),
    so counting Keras' iterators would tie the order to Keras internals. Instead the dataset Keras
    gets is `dataset` read through a `flat_map`: each pass that is really read makes exactly one
    iterator over `dataset` and adds one to `passes` (a variable, saved with each backup). On resume,
    `skip_to(saved)` makes the passes this process has not made without reading anything, and the
    next pass reads the order the uninterrupted run read.

    Examples:
        >>> ds = tf.data.Dataset.range(6).shuffle(6, seed=1, reshuffle_each_iteration=True)
        >>> first = DataPosition(ds)
        >>> orders = [[int(v) for v in first.dataset] for _ in range(3)]
        >>> # As a new process would build it:
        >>> resumed = DataPosition(tf.data.Dataset.range(6).shuffle(6, seed=1, reshuffle_each_iteration=True))
        >>> resumed.skip_to(first.passes_done() - 1)
        >>> [int(v) for v in resumed.dataset] == orders[-1], first.passes_done(), resumed.passes_done()
        (True, 3, 3)
        >>> def offset_windows():  # a random draw under a shuffle, as text generation makes one
        ...     offset = tf.data.Dataset.random(seed=2, rerandomize_each_iteration=True).take(1)
        ...     windows = offset.flat_map(lambda r: tf.data.Dataset.range(50).skip(r % 7).batch(5, drop_remainder=True))
        ...     return windows.take(8).shuffle(8, seed=2, reshuffle_each_iteration=True)
        >>> first = DataPosition(offset_windows())
        >>> orders = [[int(v[0]) for v in first.dataset] for _ in range(3)]
        >>> resumed = DataPosition(offset_windows())
        >>> resumed.skip_to(2)
        >>> [int(v[0]) for v in resumed.dataset] == orders[-1]
        True
    """

    def __init__(self, dataset):
        self.inner = dataset
        self.passes = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_passes")
        if not isinstance(dataset, tf.data.Dataset):  # arrays (read in order; shuffle=False) have no position
            self.dataset = dataset
            return

        def one_pass(_):
            self.passes.assign_add(1)
            return dataset

        counted = tf.data.Dataset.range(1).flat_map(one_pass)
        count = int(dataset.cardinality())
        if count >= 0:  # flat_map hides it; Keras' progress bar and step counts need it
            counted = counted.apply(tf.data.experimental.assert_cardinality(count))
        self.dataset = counted

    def passes_done(self):
        return int(self.passes.numpy())

    def skip_to(self, passes):
        """Moves on to just after pass `passes` (as counted by the run being resumed), reading nothing."""
        if int(passes) < self.passes_done():
            warnings.warn(
                f"The training data was already read {self.passes_done()} times, more than the {int(passes)} "
                "this step expects; its order will differ from an uninterrupted run's.",
                stacklevel=2,
            )
            return
        for _ in range(int(passes) - self.passes_done()) if isinstance(self.inner, tf.data.Dataset) else ():
            # A new iterator draws the next order. One element is read, since a shuffle makes its input's
            # iterators only when first asked for an element: a random draw under it (text generation's
            # offset) would otherwise not be made, and the resumed pass would read another one.
            next(iter(self.inner), None)
        self.passes.assign(int(passes))


VALIDATION_FLOOR = 30  # examples a split-off validation part holds at least, where the data allows
VALIDATION_FLOOR_SHARE = 0.25  # ... and never more than this share of what is left after the test part
VALIDATION_FLOOR_FROM = 60  # with fewer left, no part is big enough to trust: the fraction stays, and is flagged
TRUSTED_VALIDATION = 30  # below this many examples, reports flag a validation score as too noisy to trust


def validation_floor(count):
    """The fewest examples a validation part split off `count` examples holds: `VALIDATION_FLOOR`, or a
    quarter of them when that is less; none below `VALIDATION_FLOOR_FROM` examples, where every example
    taken from training costs more than a still-small validation part gains (such a part is flagged as too
    small to trust instead). Measured: raccoon's 16 validation images gave mAP@0.5 0.81 against 0.35 on its
    32 test images.

    Examples:
        >>> validation_floor(1000), validation_floor(128), validation_floor(80), validation_floor(24)
        (30, 30, 20, 0)
    """
    if count < VALIDATION_FLOOR_FROM:
        return 0
    return min(VALIDATION_FLOOR, int(count * VALIDATION_FLOOR_SHARE))


def small_validation(metrics):
    """A sentence flagging a run's validation part as too small to trust (fewer than `TRUSTED_VALIDATION`
    examples), or None. Reads the run's metrics (`metrics["data"]["validation_examples"]`).

    Examples:
        >>> small_validation({"data": {"validation_examples": 3}, "test": {"accuracy": 0.8}})
        'the validation part holds only 3 examples, too few to trust its score: read the test score'
        >>> small_validation({"data": {"validation_examples": 300}}) is None
        True
    """
    count = ((metrics or {}).get("data") or {}).get("validation_examples")
    if not isinstance(count, int) or count >= TRUSTED_VALIDATION:
        return None
    read = "read the test score" if (metrics or {}).get("test") else "hold out a test part (test_split) to know more"
    return f"the validation part holds only {count} examples, too few to trust its score: {read}"


def holdout(
    arrays,
    labels,
    *,
    test_split,
    validation_split,
    seed,
    validation=None,
    validation_source=None,
    method="auto",
    groups=None,
    floor=True,
):
    """Seeded test and validation hold-outs of labelled arrays, with a description of each.

    Args:
        arrays: parallel inputs (a list of NumPy arrays or lists indexed like `labels`).
        labels: class indices (all zeros where the task has no classes).
        test_split: fraction held out as the test set (0: none).
        validation_split: fraction of the whole held out for validation when
            `validation` is not given; raised to `validation_floor` examples where it gives fewer.
        seed: the split's seed.
        validation: optional (arrays, labels) the user gave for validation.
        validation_source: how to name the user's validation data in the run's info.
        method: how to split ("auto", "stratified", "grouped", "contiguous", "random"; see `toolkit.splits`).
        groups: one group key per example, for grouped splits.
        floor: raise a small validation part to `validation_floor` (False: the fraction alone).

    Returns:
        (train, validation, test, info): each part is (arrays, labels), test
        is None when test_split is 0; info says where each part came from.
        With contiguous splits the order is train, validation, test.

    Examples:
        >>> x = np.arange(20); y = np.array([0, 1] * 10)
        >>> train, val, test, info = holdout([x], y, test_split=0.2, validation_split=0.1, seed=0)
        >>> len(train[1]), len(val[1]), len(test[1]), info["test"]
        (14, 2, 4, 'seeded split of the training data (20%, stratified)')
        >>> x = np.arange(200); y = np.array([0, 1] * 100)  # 10% is 20: raised to 30, a validation floor
        >>> train, val, test, info = holdout([x], y, test_split=0.2, validation_split=0.1, seed=0)
        >>> len(train[1]), len(val[1]), len(test[1]), "raised to 30 examples" in info["validation"]
        (130, 30, 40, True)
    """
    info = {}
    test = None

    def describe_split(fraction, how):
        return f"seeded split of the training data ({fraction:.0%}{'' if how == 'random' else ', ' + how})"

    if test_split > 0:
        arrays, labels, test_arrays, test_labels, how, groups = split(arrays, labels, test_split, seed, method, groups)
        test = (test_arrays, test_labels)
        info["test"] = describe_split(test_split, how)
    else:
        info["test"] = "none (test_split=0)"
    if validation is None:
        from toolkit.splits import held_out_count

        fraction = validation_split / (1 - test_split)
        floor = validation_floor(len(labels)) if floor else 0
        raised = floor > held_out_count(len(labels), fraction)
        if raised:
            fraction = floor / len(labels)
        arrays, labels, val_arrays, val_labels, how, groups = split(arrays, labels, fraction, seed, method, groups)
        validation = (val_arrays, val_labels)
        info["validation"] = describe_split(validation_split, how)
        if raised:
            info["validation"] += (
                f", raised to {len(val_labels)} examples: a validation part picks the checkpoint and any"
                f" threshold, and {validation_split:.0%} would be too few to trust"
            )
    else:
        info["validation"] = f"validation_data: {validation_source}"
    info.update(
        train_examples=len(labels),
        validation_examples=len(validation[1]),
        test_examples=0 if test is None else len(test[1]),
    )
    return (arrays, labels), validation, test, info


def holdout_positions(labels, validation_labels=None, validation_data=None, **split_options):
    """`holdout` on positions: the split every task makes first, before it learns anything from data.

    Args:
        labels: class indices of the examples (zeros where the task has none).
        validation_labels: those of the user's validation data, or None to split some off.
        validation_data: the user's validation data (to describe it in the run's info).
        **split_options: the task's `_split_options()`.

    Returns:
        (train positions, train labels, validation positions, validation labels, test or None, info);
        test is (positions, labels). With the user's validation data, its positions are 0..n-1.

    Examples:
        >>> train, y, val, y_val, test, info = holdout_positions(np.array([0, 1] * 10), test_split=0.2,
        ...                                                      validation_split=0.1, seed=0)
        >>> len(train), len(val), len(test[0])
        (14, 2, 4)
    """
    validation = None
    if validation_labels is not None:
        validation = ([np.arange(len(validation_labels))], validation_labels)
    ((train,), y), ((val,), y_val), test, info = holdout(
        [np.arange(len(labels))], labels, validation=validation, validation_source=describe(validation_data),
        **split_options,
    )  # fmt: skip
    return train, y, val, y_val, None if test is None else (test[0][0], test[1]), info


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


def read_manifest(path, kind="data"):
    """Reads a CSV / TSV manifest of `path,target` rows; a header row naming the path column is optional.

    Tabs separate `.tsv` files, commas all others. Relative paths start at
    the manifest's folder. Image and audio tasks share this reader.

    Args:
        path: the manifest file.
        kind: what the listed files are ("image", "audio"), for error messages.

    Returns:
        (absolute paths, targets), two lists of str.

    Examples:
        >>> import tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.wav").write_bytes(b"")
        >>> _ = (folder / "list.tsv").write_text("path\\ttranscript\\na.wav\\tthree one\\n")
        >>> paths, targets = read_manifest(folder / "list.tsv", "audio")
        >>> pathlib.Path(paths[0]).name, targets
        ('a.wav', ['three one'])
    """
    path = pathlib.Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",") if row]
    if rows and rows[0][0].strip().lower() in ("path", "file", "filename", "image", "audio"):
        rows = rows[1:]
    bad = [i + 1 for i, row in enumerate(rows) if len(row) < 2]
    if not rows or bad:
        raise ToolkitError(
            f"Manifest '{path}' has {'no rows' if not rows else f'rows without a second column (lines {bad[:5]})'}.",
            expected="rows of path,label (or path,transcript); a 'path,label' header is optional",
            fix="add the missing column",
        )
    paths = [str((path.parent / row[0].strip()).resolve()) for row in rows]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise ToolkitError(
            f"{len(missing)} {kind} files listed in '{path}' do not exist, e.g. '{missing[0]}'.",
            expected=f"paths to existing {kind} files, absolute or relative to the manifest",
            fix="correct the paths in the manifest",
        )
    return paths, [row[1].strip() for row in rows]


def existing_path(data, expected):
    """`data` as a `pathlib.Path`, or a clear error when nothing is there; `expected` lists the accepted forms.

    Examples:
        >>> existing_path("no/such/folder", "a folder of images")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Data path 'no/such/folder' does not exist.
        ...
    """
    path = pathlib.Path(data)
    if not path.exists():
        raise ToolkitError(
            f"Data path '{path}' does not exist.",
            expected=expected,
            fix="check the path (relative paths start from the current folder)",
        )
    return path


def read_text(path, what="data files"):
    """A text file as UTF-8 (a byte-order mark allowed), or a three-part error naming the file and the
    first byte that is not UTF-8 (`what` says which files: "annotation files").

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "latin.txt"
        >>> _ = path.write_bytes("caf\u00e9".encode("latin-1"))
        >>> read_text(path)
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: '...latin.txt' is not UTF-8 text (byte 3 cannot be read).
        ...
    """
    try:
        return pathlib.Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ToolkitError(
            f"'{path}' is not UTF-8 text (byte {error.start} cannot be read).",
            expected=f"{what} in UTF-8",
            fix="convert the file to UTF-8, e.g. `iconv -f latin1 -t utf-8 old > new`",
        ) from None


def parse_json_line(line, where, example):
    """One line of JSON Lines -> its object, or a three-part error that starts with `where` ("Line 3 of
    'x.jsonl'") and shows `example`, a line as the caller expects it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ToolkitError(
            f"{where} is not valid JSON: {error.msg}.",
            expected=f"JSON Lines: one object per line, e.g. {example}",
            fix="fix that line",
        ) from None
    if not isinstance(record, dict):
        raise ToolkitError(
            f"{where} holds a {type(record).__name__}, not an object.",
            expected=f"one JSON object per line, e.g. {example}",
            fix="write each example as an object",
        )
    return record


def read_json_lines(content, path, example):
    """JSON Lines text -> (records, their line numbers); a three-part error for a line that is not a JSON
    object. `example` is one line as the caller expects it, shown in the error."""
    records, line_numbers = [], []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        records.append(parse_json_line(line, f"Line {number} of '{path}'", example))
        line_numbers.append(number)
    return records, line_numbers
