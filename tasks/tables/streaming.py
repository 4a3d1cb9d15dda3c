"""Tables too big for memory: read in chunks (Parquet row groups through pyarrow, CSV and JSON Lines
blocks through pandas), never whole.

A `TableFile` reads a file chunk by chunk; `StreamRows` are the rows of one part of it (their positions
in the file), so the core's split acts on positions as it does on a table in memory. Only the target
column is read whole (for the split and the classes); the column plan is learned on a bounded sample
of the training part, and every epoch reads the file again, keeping its part's rows.
"""

import os

import numpy as np
import pandas as pd

from tasks.tables import data as table_data

# A file over this size is streamed, not read into pandas whole (a table in pandas takes several times
# its CSV size); `stream=True` / `False` on the task decides it either way.
STREAM_BYTES = 256 << 20
CHUNK_ROWS = 65_536
# Rows the column plan, the gradient-boosting reference and permutation importance read from a stream.
SAMPLE_ROWS = 100_000


def streamable(data):
    """True for a CSV / TSV / Parquet / JSON Lines path (the forms read in chunks)."""
    if not isinstance(data, (str, os.PathLike)) or not os.path.isfile(data):
        return False
    return table_data.SUFFIXES.get(os.path.splitext(str(data))[1].lower()) in ("csv", "parquet", "jsonl")


def too_big(data):
    return streamable(data) and os.path.getsize(data) > STREAM_BYTES


class TableFile:
    """A table file read in chunks of about `chunk_rows` rows (a DataFrame each, column names as strings).

    Examples:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> pd.DataFrame({"a": range(5), "b": list("xyzxy")}).to_csv(path, index=False)
        >>> [len(chunk) for chunk in TableFile(path, chunk_rows=2).chunks()]
        [2, 2, 1]
    """

    def __init__(self, path, chunk_rows=CHUNK_ROWS):
        self.path = str(path)
        self.kind = table_data.SUFFIXES[os.path.splitext(self.path)[1].lower()]
        self.chunk_rows = chunk_rows
        self.header = [str(name) for name in table_data.read_file(self.path, rows=5).columns]

    def chunks(self, columns=None):
        """DataFrames of consecutive rows, in file order (only `columns` when given)."""
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.chunk_rows, columns=columns):
                yield _named(batch.to_pandas())
            return
        if self.kind == "csv":
            reader = pd.read_csv(self.path, sep=table_data.sniff_delimiter(self.path), encoding="utf-8-sig",
                                 skipinitialspace=True, chunksize=self.chunk_rows, usecols=columns)  # fmt: skip
        else:
            reader = pd.read_json(self.path, lines=True, chunksize=self.chunk_rows)
        with reader:
            for chunk in reader:
                yield _named(chunk if columns is None or self.kind == "csv" else chunk[columns])

    def column(self, name):
        """One column, whole, as a Series (the target: a split needs every row's)."""
        return pd.concat([chunk[name] for chunk in self.chunks([name])], ignore_index=True)

    def rows(self, positions):
        """The rows at sorted `positions` as one DataFrame (a bounded sample)."""
        positions = np.asarray(positions, dtype=np.int64)
        taken, start = [], 0
        for chunk in self.chunks():
            inside = positions[(positions >= start) & (positions < start + len(chunk))]
            if len(inside):
                taken.append(chunk.iloc[inside - start])
            start += len(chunk)
        return pd.concat(taken, ignore_index=True) if taken else pd.DataFrame(columns=self.header)


def _named(frame):
    frame.columns = [str(name) for name in frame.columns]
    return frame.reset_index(drop=True)


class StreamRows:
    """The rows of a `TableFile` at `positions` (sorted): an index's inputs, split by positions like `Rows`."""

    def __init__(self, table, positions, drop=()):
        self.table = table
        # Row i of the part is file row positions[i] (the part's order is the split's, which its targets
        # follow); the file is read in order, so `order` lists the part's rows by file position.
        self.positions = np.asarray(positions, dtype=np.int64)
        self.order = np.argsort(self.positions, kind="stable")
        self.drop = list(drop)  # the target: not a feature

    def __len__(self):
        return len(self.positions)

    def part(self, positions):
        return StreamRows(self.table, self.positions[np.asarray(positions, dtype=int)], self.drop)

    def sample(self, rows=SAMPLE_ROWS, seed=0):
        """(DataFrame of the features, their rows in the part) of up to `rows` of these rows, at random (seeded)."""
        chosen = self.order
        if len(chosen) > rows:
            chosen = np.sort(np.random.default_rng(seed).choice(chosen, rows, replace=False))
            chosen = chosen[np.argsort(self.positions[chosen], kind="stable")]
        frame = self.table.rows(self.positions[chosen]).drop(columns=self.drop, errors="ignore")
        return frame, chosen

    def chunks(self):
        """(feature DataFrame, the part's row of each) for each chunk's rows that belong to this part."""
        in_file_order = self.positions[self.order]
        start = 0
        for chunk in self.table.chunks():
            low, high = np.searchsorted(in_file_order, [start, start + len(chunk)])
            if high > low:
                inside = in_file_order[low:high] - start
                frame = chunk.iloc[inside].drop(columns=self.drop, errors="ignore").reset_index(drop=True)
                yield frame, self.order[low:high]
            start += len(chunk)
