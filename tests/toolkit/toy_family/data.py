"""Reads a table of numbers with a label column: a CSV file, or (rows, labels) arrays."""

import csv

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index


def read_table(data, label_column="label"):
    """An `Index` of float rows and their labels (strings) from a CSV path or a (rows, labels) pair."""
    if isinstance(data, tuple) and len(data) == 2:
        rows, labels = np.asarray(data[0], dtype="float32"), [str(label) for label in data[1]]
        return Index(rows, labels, about="arrays")
    with open(data, newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    if not records or label_column not in records[0]:
        raise ToolkitError(
            f"'{data}' has no column {label_column!r}.",
            expected="a CSV file with a header row, numeric feature columns and a label column",
            fix="name the label column label_column=",
        )
    features = [name for name in records[0] if name != label_column]
    rows = np.array([[float(record[name]) for name in features] for record in records], dtype="float32")
    return Index(rows, [record[label_column] for record in records], about=str(data))
