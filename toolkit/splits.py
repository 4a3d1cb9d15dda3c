"""Seeded hold-out splits of a data index: stratified, grouped, contiguous or random.

A split acts on the light index an adapter builds (paths, records, labels),
never on decoded data. scikit-learn draws the stratified, random and grouped
splits; contiguous needs no randomness (a corpus's tail is its validation).
"""

import math

import numpy as np

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
