"""Seeded hold-out splits of a data index: stratified, grouped, contiguous or random.

A split acts on the light index an adapter builds (paths, records, labels),
never on decoded data. scikit-learn draws the stratified, random and grouped
splits; contiguous needs no randomness (a corpus's tail is its validation).
"""

import math

import numpy as np

from toolkit.data import describe as data_describe
from toolkit.errors import ToolkitError

METHODS = ("auto", "stratified", "random", "grouped", "contiguous")


def held_out_count(count, fraction):
    """How many of `count` examples a hold-out of `fraction` takes: scikit-learn's rounding, so splits match it.

    Examples:
        >>> held_out_count(160, 0.125), held_out_count(19, 0.125)
        (20, 3)
    """
    return math.ceil(count * fraction - 1e-9)


def split_indices(count, fraction, *, seed, method="auto", labels=None, groups=None):
    """Indices (kept, held_out) of a seeded hold-out of `fraction` of `count` examples.

    Args:
        count: number of examples.
        fraction: share to hold out, between 0 and 1.
        seed: the split's seed.
        method: "stratified" (each label in both parts, in proportion), "grouped"
            (all examples of one group on one side), "contiguous" (the last
            `fraction`, order kept: a corpus or a time series), "random", or
            "auto" (stratified when the labels allow it, else random; grouped when
            groups are given).
        labels: class indices, for "stratified" / "auto".
        groups: one group key per example (a speaker, an article), for "grouped".

    Returns:
        (kept indices, held-out indices, how the split was made), the indices sorted.

    Examples:
        >>> kept, held, how = split_indices(10, 0.2, seed=0, method="contiguous")
        >>> held.tolist(), how
        ([8, 9], 'contiguous')
        >>> kept, held, how = split_indices(6, 0.5, seed=0, groups=["a", "a", "b", "b", "c", "c"])
        >>> how, len(held) in (2, 4)
        ('grouped', True)
    """
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    if method not in METHODS:
        raise ToolkitError(
            f"split={method!r} is not valid.",
            expected=f"one of {METHODS}",
            fix="pass split='grouped' with fit(..., groups=...), 'contiguous' for ordered data, or 'random'",
        )
    indices = np.arange(count)
    held_count = held_out_count(count, fraction)
    if held_count < 1 or held_count >= count:
        raise ToolkitError(
            f"Holding out {fraction:.0%} of {count} examples leaves {'none' if held_count < 1 else 'nothing to train on'}.",
            expected="enough examples for both parts",
            fix="pass more data, change validation_split / test_split, or pass validation_data",
        )
    if groups is not None and method not in ("auto", "grouped"):
        raise ToolkitError(
            f"fit() got groups=, but split={method!r} would ignore them.",
            expected="split='grouped' (or 'auto') with groups=, or no groups",
            fix="pass split='grouped', or leave groups out",
        )
    if method == "auto":
        method = "grouped" if groups is not None else ("stratified" if _can_stratify(labels, held_count) else "random")
    if method == "contiguous":
        return indices[: count - held_count], indices[count - held_count :], "contiguous"
    if method == "grouped":
        if groups is None:
            raise ToolkitError(
                "split='grouped' needs a group for every example.",
                expected="fit(data, groups=[...]) with one group key (speaker, article, patient) per example",
                fix="pass groups= to fit, or choose split='stratified' / 'random'",
            )
        groups = np.asarray(groups)
        if len(groups) != count:
            raise ToolkitError(
                f"Got {len(groups)} groups for {count} examples.",
                expected="one group key per example of `data`",
                fix="pass groups of the same length as the data",
            )
        if len(set(groups.tolist())) < 2:
            raise ToolkitError(
                "All examples are in one group, so a grouped split cannot hold any out.",
                expected="at least two groups",
                fix="check the groups, or choose split='random'",
            )
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        kept, held = next(splitter.split(indices, groups=groups))
        return np.sort(kept), np.sort(held), "grouped"
    if method == "stratified" and not _can_stratify(labels, held_count):
        raise ToolkitError(
            "A stratified split needs every class at least twice, and a held-out part with room for each class.",
            expected="labels with at least two examples per class",
            fix="pass split='random', or more data",
        )
    kept, held = train_test_split(
        indices, test_size=fraction, random_state=seed, stratify=labels if method == "stratified" else None
    )
    return np.sort(kept), np.sort(held), method


def _can_stratify(labels, held_count):
    if labels is None:
        return False
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iub":
        return False
    counts = np.bincount(labels)
    present = counts[counts > 0]
    return len(present) > 1 and present.min() >= 2 and held_count >= len(present)


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
    labels = np.asarray(labels)
    kept, held_out, how = split_indices(len(labels), fraction, seed=seed, method=method, labels=labels, groups=groups)
    take = lambda idx: [a[idx] if isinstance(a, np.ndarray) else [a[i] for i in idx] for a in arrays]  # noqa: E731
    kept_groups = None if groups is None else np.asarray(groups)[kept]
    return take(kept), labels[kept], take(held_out), labels[held_out], how, kept_groups


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
        [np.arange(len(labels))], labels, validation=validation, validation_source=data_describe(validation_data),
        **split_options,
    )  # fmt: skip
    return train, y, val, y_val, None if test is None else (test[0][0], test[1]), info
