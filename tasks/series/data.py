"""Reads labelled series in the forms series-classification data ships in: UCR / UEA `.ts` files, a CSV /
TSV / Parquet table with one series a row and a label column, or (series, labels) arrays of shape
(cases, length) or (cases, length, channels), or a list of series of different lengths."""

import os
import pathlib

import numpy as np

from tasks.series.ts_files import read_ts
from toolkit import readers
from toolkit.errors import ToolkitError

FORMS = (
    "a UCR / UEA .ts file, a CSV / TSV / Parquet table with one series a row (numeric columns in time order) and a "
    "label column, or a (series, labels) tuple: an array (cases, length) or (cases, length, channels), or a list "
    "of series of different lengths"
)


def read_series(data, label_column="label"):
    """(series (cases, length, channels) float32, NaN where a value is missing or a shorter series has ended;
    labels as strings; what to call the source; the class labels the source declares, or None).

    Examples:
        >>> series, labels, about, classes = read_series(([[1, 2, 3], [4, 5]], ["a", "b"]))
        >>> series.shape, labels, bool(np.isnan(series[1, 2, 0]))
        ((2, 3, 1), ['a', 'b'], True)
    """
    if isinstance(data, tuple) and len(data) == 2:
        series, labels = data
        return pad(series), [_label(v) for v in labels], "tuple of arrays", None
    if isinstance(data, (str, os.PathLike)):
        path = readers.existing_path(data, FORMS)
        if path.is_dir():
            found = sorted(p.name for p in path.iterdir() if p.suffix.lower() == ".ts")
            raise ToolkitError(
                f"'{path}' is a folder" + (f" (it holds {', '.join(found[:4])})." if found else ", with no .ts file."),
                expected="one file: " + FORMS,
                fix="pass the file's path (the _TRAIN.ts file to train, the _TEST.ts file to evaluate)",
            )
        if path.suffix.lower() == ".ts":
            series, labels, classes = read_ts(path)
            if classes is None:
                raise ToolkitError(
                    f"'{path}' declares no class labels (@classLabel false).",
                    expected="a .ts file with @classLabel true <labels> and a label at the end of each case",
                    fix="use the archive's labelled file",
                )
            return series, labels, str(path), classes
        return _from_table(path, label_column)
    raise ToolkitError(
        f"Cannot read series from a {type(data).__name__}.", expected=FORMS, fix="pass one of those forms"
    )


def _from_table(path, label_column):
    from tasks.tables.data import read_file

    frame = read_file(path)
    if label_column not in frame.columns:
        raise ToolkitError(
            f"'{path}' has no column {label_column!r}.",
            expected="a label column and numeric columns holding each series' values in time order",
            fix="name the label column with label_column=",
        )
    values = frame.drop(columns=[label_column])
    numeric = values.apply(lambda column: column.map(_is_number).all())
    if not numeric.all():
        raise ToolkitError(
            f"'{path}' has columns that are not numbers: {', '.join(map(str, values.columns[~numeric][:5]))}.",
            expected="one series a row: numeric columns in time order (empty cells past a shorter series' end)",
            fix="drop the other columns, or name the label column with label_column=",
        )
    series = values.to_numpy(dtype=np.float32)[:, :, None]
    return series, [_label(v) for v in frame[label_column]], str(path), None


def pad(series):
    """Series of one or several channels, of equal or different lengths -> (cases, length, channels) float32
    with NaN past each one's end."""
    if isinstance(series, np.ndarray) and series.dtype != object:
        array = series.astype(np.float32)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ToolkitError(
                f"Series arrays of shape {array.shape}.",
                expected="(cases, length) or (cases, length, channels)",
                fix="reshape the array",
            )
        return array
    if isinstance(series, (str, bytes)) or not hasattr(series, "__len__"):
        raise ToolkitError(
            f"Series given as a {type(series).__name__}.", expected="a list or array of series", fix="pass the series"
        )
    cases = []
    for i, case in enumerate(series):
        try:
            cases.append(np.asarray(case, dtype=np.float64).astype(np.float32))  # None -> NaN
        except (TypeError, ValueError):
            raise ToolkitError(
                f"Series {i} is not a sequence of numbers ({str(case)[:40]!r}).",
                expected="numbers (None or NaN for a missing value)",
                fix="pass each series as a list or array of numbers",
            ) from None
    cases = [c[:, None] if c.ndim == 1 else c for c in cases]
    if not cases or any(c.ndim != 2 for c in cases) or len({c.shape[1] for c in cases}) != 1:
        raise ToolkitError(
            "The series have different numbers of channels (or are not 1-D / 2-D).",
            expected="each series (length,) or (length, channels), all with the same channels",
            fix="check the series",
        )
    array = np.full((len(cases), max(len(c) for c in cases), cases[0].shape[1]), np.nan, np.float32)
    for i, case in enumerate(cases):
        array[i, : len(case)] = case
    return array


def _label(value):
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _is_number(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def about(data):
    return str(pathlib.Path(data)) if isinstance(data, (str, os.PathLike)) else type(data).__name__
