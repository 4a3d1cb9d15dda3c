"""Reads a table in the forms tables ship in (CSV / TSV, Parquet, JSON Lines, a JSON array of records,
a pandas DataFrame, a dict of columns, a list of row dicts, `tfds:NAME`) into a pandas DataFrame, and
splits off its target column.

pandas reads every file form (its CSV reader takes `""`, `NA`, `null`, `NaN` as missing), so nothing
here parses a format by hand; what is ours is choosing the reader, sniffing the delimiter and the
three-part errors.
"""

import csv
import os
import pathlib

import numpy as np
import pandas as pd

from tasks.tables import columns as columns_lib
from toolkit import readers
from toolkit.errors import ToolkitError

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
FORMS = (
    "a CSV / TSV file with a header row (delimiter sniffed), a Parquet file, a JSON Lines file, a JSON array of "
    "records, a pandas DataFrame, a dict of columns, a list of row dicts, or 'tfds:NAME'"
)


class Rows:
    """The rows of a table (a pandas DataFrame) as an index's inputs: `part(positions)` takes rows.

    Examples:
        >>> rows = Rows(pd.DataFrame({"a": [1, 2, 3]}))
        >>> len(rows), rows.part([2, 0]).frame["a"].tolist()
        (3, [3, 1])
    """

    def __init__(self, frame):
        self.frame = frame.reset_index(drop=True)

    def __len__(self):
        return len(self.frame)

    def part(self, positions):
        return Rows(self.frame.iloc[np.asarray(positions, dtype=int)])


def read_table(data, data_dir=None):
    """Any accepted form -> a DataFrame (columns named by strings, at least one row).

    Examples:
        >>> read_table({"a": [1, 2], "b": ["x", None]}).shape
        (2, 2)
        >>> read_table([{"a": 1}, {"a": 2, "b": "y"}])["b"].isna().tolist()
        [True, False]
    """
    if isinstance(data, pd.DataFrame):
        frame, about = data.copy(), "DataFrame"  # a copy: nothing the user owns is changed
    elif isinstance(data, dict):
        frame, about = _from_columns(data), "dict of columns"
    elif isinstance(data, (list, tuple)) and data and all(isinstance(row, dict) for row in data):
        frame, about = pd.DataFrame(list(data)), "list of rows"
    elif isinstance(data, str) and data.startswith("tfds:") and not os.path.exists(data):
        frame, about = _from_tfds(data, data_dir), data
    elif isinstance(data, (str, os.PathLike)):
        frame, about = read_file(data), str(data)
    else:
        raise ToolkitError(
            f"Cannot read a table from a {type(data).__name__}.", expected=FORMS, fix="pass one of those forms"
        )
    if frame.shape[1] == 0 or len(frame) == 0:
        raise ToolkitError(
            f"The table from {about} is empty ({len(frame)} rows, {frame.shape[1]} columns).",
            expected="a header row and at least one row of values",
            fix="check the file or the object passed",
        )
    frame.columns = [str(name) for name in frame.columns]
    frame.attrs["about"] = about
    return frame


def read_file(path, rows=None):
    """A table file -> a DataFrame, its reader chosen by the suffix (a CSV's delimiter sniffed); with `rows`,
    its first rows only (CSV, Parquet and JSON Lines: the files read in chunks)."""
    path, kind = check_file(path)
    try:
        if rows is not None:
            return read_file_head(path, rows)
        if kind == "csv":
            return _read_csv(path)
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        return _read_json(path)
    except ToolkitError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ToolkitError(
            f"'{path}' could not be read as {kind}: {type(error).__name__}: {str(error)[:300]}",
            expected=f"a well-formed {kind} table",
            fix="check the file (a stray quote or a truncated write are common causes)",
        ) from error


def check_file(path):
    """(`pathlib.Path`, format) of a table file, or a three-part error: missing, a folder, an unknown suffix,
    empty."""
    path = readers.existing_path(path, FORMS)
    if path.is_dir():
        found = sorted(p.name for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        raise ToolkitError(
            f"'{path}' is a folder"
            + (f" (it holds {', '.join(found[:5])})." if found else ", with no table file in it."),
            expected="one table file: " + FORMS,
            fix="pass the table file's path",
        )
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ToolkitError(
            f"'{path}' has the suffix {path.suffix!r}, which is not a table format read here.",
            expected=f"a file ending in one of {', '.join(sorted(SUFFIXES))}",
            fix="rename the file to its format's suffix, or convert it",
        )
    if path.stat().st_size == 0:
        raise ToolkitError(
            f"'{path}' is empty (0 bytes).", expected="a header row and rows of values", fix="check the file"
        )
    return path, kind


def sniff_delimiter(path):
    """The delimiter of a CSV / TSV file (",", tab, ";" or "|"), sniffed from its first 64 KB."""
    path = pathlib.Path(path)
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        head = f.read(65536)
    try:
        return csv.Sniffer().sniff(head, delimiters=",\t;|").delimiter
    except csv.Error:  # one column, or too little text to tell: the suffix's delimiter
        return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


def _read_csv(path, rows=None):
    frame = pd.read_csv(path, sep=sniff_delimiter(path), encoding="utf-8-sig", skipinitialspace=True, nrows=rows)
    numeric_names = [name for name in frame.columns if _is_number(name)]
    if len(frame.columns) > 1 and len(numeric_names) == len(frame.columns):
        raise ToolkitError(
            f"'{path}' has no header row: its first line is values ({', '.join(map(str, frame.columns[:5]))}).",
            expected="a first line naming the columns",
            fix="add a header row (the target is chosen by its column's name)",
        )
    return frame


def read_file_head(path, rows=5):
    """The first rows of a CSV / Parquet / JSON Lines file (its header checked as `read_file` checks it)."""
    path = pathlib.Path(path)
    kind = SUFFIXES[path.suffix.lower()]
    if kind == "csv":
        return _read_csv(path, rows)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return next(pq.ParquetFile(path).iter_batches(batch_size=rows)).to_pandas()
    return pd.read_json(path, lines=True, nrows=rows)


def _read_json(path):
    text = readers.read_text(path, "table files")
    if text.lstrip().startswith("["):
        return pd.DataFrame(pd.read_json(_StringIO(text), orient="records"))
    if text.lstrip().startswith("{") and "\n{" in text.strip():
        return pd.read_json(_StringIO(text), lines=True)
    raise ToolkitError(
        f"'{path}' is JSON but not a list of records.",
        expected='a JSON array of row objects ([{"a": 1, "b": "x"}, ...]) or one object per line (JSON Lines)',
        fix="write the rows as an array of objects",
    )


def _StringIO(text):
    import io

    return io.StringIO(text)


def _from_columns(columns):
    lengths = {name: len(values) for name, values in columns.items() if hasattr(values, "__len__")}
    if len(set(lengths.values())) > 1 or len(lengths) != len(columns):
        raise ToolkitError(
            f"The dict's columns have different lengths: {lengths}.",
            expected="a dict of equally long lists or arrays, one per column",
            fix="pass one value per row in every column (None for a missing one)",
        )
    return pd.DataFrame({name: list(values) for name, values in columns.items()})


def _from_tfds(spec, data_dir):
    """A TFDS table (feature dicts, nested ones flattened to "outer/inner") read into memory."""
    from toolkit.tfds import load_tfds

    dataset, _ = load_tfds(spec, data_dir, as_supervised=False)
    rows = []
    for example in dataset.as_numpy_iterator():
        rows.append(dict(_flatten(example)))
    return pd.DataFrame(rows)


def _flatten(example, prefix=""):
    for name, value in example.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}/")
        elif isinstance(value, bytes):
            yield f"{prefix}{name}", value.decode("utf-8", "replace")
        elif np.ndim(value) == 0:
            yield f"{prefix}{name}", value.item() if hasattr(value, "item") else value


def _is_number(text):
    try:
        float(str(text))
        return True
    except ValueError:
        return False


def split_target(frame, target, task_name):
    """(features DataFrame, target Series without missing values) of `frame`; rows whose target is missing
    are dropped (they teach nothing) and counted in the returned note."""
    if target is None:
        raise ToolkitError(
            "No target column was named.",
            expected=f"target= naming one of the table's columns: {_names(frame)}",
            fix=f"pass target='<column>' (toolkit train {task_name} --target <column>)",
        )
    if target not in frame.columns:
        raise ToolkitError(
            f"The table from {frame.attrs.get('about', 'the data')} has no column {target!r}.",
            expected=f"target= naming one of its columns: {_names(frame)}",
            fix="check the name (names are case-sensitive)",
        )
    values = frame[target]
    missing = columns_lib.missing(values)
    note = f"{int(missing.sum())} rows without a {target!r} value were left out." if missing.any() else None
    kept = frame.loc[~missing]
    if len(kept) == 0:
        raise ToolkitError(
            f"The target column {target!r} has no values.", expected="a value in most rows", fix="check the column"
        )
    return kept.drop(columns=[target]), kept[target], note


def _names(frame, most=20):
    names = list(map(str, frame.columns))
    return ", ".join(names[:most]) + (f", ... ({len(names)} columns)" if len(names) > most else "")


def describe_path(data):
    """What a run's info says about the data."""
    if isinstance(data, (str, os.PathLike)):
        return str(pathlib.Path(data))
    return type(data).__name__
