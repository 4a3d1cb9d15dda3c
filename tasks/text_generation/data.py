"""A corpus as a light index of byte ranges, split by position, read in chunks.

A corpus is one or more text files (a file, a folder of `.txt` files, read in
name order), a table with a text column (a .csv / .tsv file with a header row,
or JSON Lines), a TFDS dataset ("tfds:NAME[:SPLIT]", its text feature), a list
of strings, or "python-docs" (the built-in default: the Python standard
library's help topics, `pydoc_data.topics`, about 465 KB of English prose and
code that every Python install has). Nothing is read into memory whole: files
are indexed as byte ranges (a TFDS split as a range of examples) and read in
chunks inside `tf.data`, so a corpus of gigabytes trains like one of a megabyte.
Each record of a table or TFDS dataset is one document, ended by a line break.

The split is by position, never shuffled in (the last part is validation):
the cut is moved to the next line start (for a table, the next record), so
validation text never shares a line or a record with training text.
"""

import codecs
import csv
import io
import os
import pathlib

from toolkit import readers
from toolkit import tfds as tfds_lib
from toolkit.errors import ToolkitError

CHUNK_BYTES = 1 << 20  # what one tf.data element holds while reading
BINARY_PROBE_BYTES = 8192
DEFAULT_CORPUS = "python-docs"


TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".json": None}  # delimiter; None: JSON Lines
JSON_EXAMPLE = '{"text": "a document"}'
TEXT_KEYS = ("text", "content", "document", "body", "sentence")  # a text column found without being named


class Piece:
    """A byte range of one file, a string held in memory, or a range of TFDS examples, in corpus order.

    `table` (for .csv / .tsv / JSON Lines files) is (delimiter or None for JSON Lines, the text
    column's index or key); `tfds` is (name, split, feature, data_dir) with start / end counted in
    examples.
    """

    def __init__(self, path=None, start=0, end=None, text=None, table=None, tfds=None):
        self.path, self.start, self.end, self.text = path, start, end, text
        self.table, self.tfds = table, tfds

    def size(self):
        return len(self.text.encode("utf-8")) if self.text is not None else self.end - self.start

    def part(self, start, end):
        """The same source, from `start` to `end` (offsets within this piece)."""
        return Piece(self.path, self.start + start, self.start + end, table=self.table, tfds=self.tfds)

    def __repr__(self):
        return f"Piece({self.path or (self.tfds or ['text'])[0]}, {self.start}, {self.end})"


def load_corpus(data, text_column=None, data_dir=None):
    """The user's corpus -> (list of `Piece`, a short description).

    `text_column` names a table's text column (a header name, or an index for a .csv / .tsv
    without a header row) or a JSON Lines / TFDS text key; None: the one called "text" (or
    "content", "document", "body", "sentence"), or the only one. `data_dir`: TFDS's folder.

    Examples:
        >>> pieces, about = load_corpus(["to be or not", "to be"])
        >>> [p.text for p in pieces], about
        (['to be or not\\nto be\\n'], '2 texts')
    """
    if isinstance(data, str) and data == DEFAULT_CORPUS:
        from pydoc_data.topics import topics

        return [Piece(text="".join(topics[k] + "\n" for k in sorted(topics)))], "the Python help topics (built in)"
    if isinstance(data, (list, tuple)):
        if not data or not all(isinstance(t, str) for t in data):
            raise ToolkitError(
                "A list of texts must hold at least one string, and only strings.",
                expected="['first document', 'second document', ...]",
                fix="pass a list of strings, a text file or a folder of .txt files",
            )
        return [
            Piece(text="".join(t if t.endswith("\n") else t + "\n" for t in data))
        ], f"{len(data)} text{'s' if len(data) > 1 else ''}"
    if isinstance(data, str) and data.startswith("tfds:") and not os.path.exists(data):
        return _tfds_corpus(data, text_column, data_dir)
    if isinstance(data, (str, os.PathLike)):
        path = pathlib.Path(data)
        try:
            path.stat()
        except OSError:  # missing, or a name no file system takes (text passed as a path)
            raise ToolkitError(
                f"'{_shown(str(path))}' does not exist.",
                expected=f"a text file, a folder of .txt files, a list of strings, or {DEFAULT_CORPUS!r}",
                fix="check the path; to train on text held in a string, pass it in a list: [text]",
            ) from None
        if path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
            _check_text_file(path)
            piece, column = _table_piece(path, text_column)
            return [piece], f"the {column!r} {'key' if piece.table[0] is None else 'column'} of '{path}'"
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not files:
                raise ToolkitError(
                    f"The folder '{path}' has no .txt files.",
                    expected="a folder of plain-text .txt files (read in name order as one corpus)",
                    fix="point to the folder that holds the .txt files, or to one text file",
                )
        elif path.is_file():
            files = [path]
        else:
            raise ToolkitError(
                f"'{path}' does not exist.",
                expected=f"a text file, a folder of .txt files, a list of strings, or {DEFAULT_CORPUS!r}",
                fix="check the path",
            )
        pieces = [Piece(str(f), 0, f.stat().st_size) for f in files]
        for piece in pieces:
            _check_text_file(piece.path)
        if not sum(p.size() for p in pieces):
            raise ToolkitError(
                f"The corpus '{path}' is empty (0 bytes).",
                expected="text to learn from",
                fix="give a file or folder with text in it",
            )
        return pieces, f"{len(files)} file{'s' if len(files) > 1 else ''} ({path})"
    raise ToolkitError(
        f"Cannot read a corpus from {type(data).__name__}.",
        expected=f"a text file, a folder of .txt files, a list of strings, or {DEFAULT_CORPUS!r}",
        fix="pass one of those",
    )


def _shown(text, most=100):
    """A path, or text passed where a path goes, cut in its middle: its start and its file name stay."""
    return text if len(text) <= most else f"{text[: most // 2]} ... {text[-(most // 2 - 5) :]}"


def _table_piece(path, text_column):
    """A .csv / .tsv / JSON Lines file -> (one Piece over its records after the header row, the text
    column's name), the column chosen from the header (or the first record's keys) and checked."""
    delimiter = TABLE_SUFFIXES[path.suffix.lower()]
    size = path.stat().st_size
    with open(path, "rb") as f:
        first = f.readline()
    if not first.strip():
        raise ToolkitError(
            f"'{path}' is empty or starts with an empty line.",
            expected="a header row (or, for JSON Lines, a record) on the first line",
            fix="remove the blank lines at the top, or give a file with text in it",
        )
    if delimiter is None:
        record = readers.parse_json_line(first.decode("utf-8", "replace"), f"Line 1 of '{path}'", JSON_EXAMPLE)
        keys = list(record)
        strings = [k for k in keys if isinstance(record[k], str)]
        key = _choose_column(text_column, keys, strings, path, "key")
        return Piece(str(path), 0, size, table=(None, key)), key
    if isinstance(text_column, int) and not isinstance(text_column, bool):
        return Piece(str(path), 0, size, table=(delimiter, text_column)), text_column  # no header row
    header = next(csv.reader(io.StringIO(first.decode("utf-8", "replace")), delimiter=delimiter))
    header = [h.strip() for h in header]
    name = _choose_column(text_column, header, header, path, "column")
    return Piece(str(path), _record_end(path, 0, delimiter), size, table=(delimiter, header.index(name))), name


def _choose_column(text_column, names, candidates, path, what):
    if text_column is not None:
        if text_column not in names:
            raise ToolkitError(
                f"The {what} {text_column!r} is not in '{path}'.",
                expected=f"one of its {what}s {names[:20]}",
                fix="pass text_column= one of those",
            )
        return text_column
    found = [c for c in candidates if c.lower() in TEXT_KEYS]
    if len(found) == 1 or len(candidates) == 1:
        return (found or candidates)[0]
    raise ToolkitError(
        f"Cannot tell which {what} of '{path}' holds the text: {what}s {names[:20]}.",
        expected=f"a {what} called 'text' (or {', '.join(TEXT_KEYS[1:])}), or text_column= naming one",
        fix=f"pass text_column= (CLI: --text-column) with the {what}'s name",
    )


def _record_end(path, offset, delimiter):
    """The byte offset where the CSV record that holds byte `offset` ends: a quoted field may hold line
    breaks, so records are found by reading from the file's start with Python's csv module."""
    with open(path, "rb") as f:
        position = 0

        def numbered():  # the lines, counting bytes, so a record's end is known when csv finishes it
            nonlocal position
            for line in f:
                position += len(line)
                yield line.decode("utf-8", "replace")

        reader = csv.reader(numbered(), delimiter=delimiter)
        for _ in reader:
            if position > offset:
                return position
    return position


def _tfds_corpus(spec, text_column, data_dir):
    """ "tfds:NAME[:SPLIT]" -> one Piece over its examples, and its text feature chosen and checked."""

    dataset, _ = tfds_lib.load_tfds(spec, data_dir, as_supervised=False)
    parts = spec.split(":")
    split = parts[2] if len(parts) == 3 else "train"
    strings = [k for k, s in dataset.element_spec.items() if s.dtype == "string" and s.shape.rank == 0]
    key = _choose_column(text_column, list(dataset.element_spec), strings, spec, "feature")
    count = int(dataset.cardinality())
    if count <= 0:
        raise ToolkitError(
            f"TFDS dataset {spec!r} has no examples (or an unknown count: {count}).",
            expected="a prepared TFDS split with examples",
            fix="check the name and split",
        )
    return [
        Piece(spec, 0, count, tfds=(spec, split, key, data_dir))
    ], f"the {key!r} feature of {spec} ({count:,} examples)"


def _check_text_file(path):
    """A NUL byte or bytes that are not UTF-8 in a file's head mean it is not text: say so by name."""
    with open(path, "rb") as f:
        head = f.read(BINARY_PROBE_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        binary = b"\x00" in head
    except UnicodeDecodeError:
        binary = True
    if binary:
        raise ToolkitError(
            f"'{path}' is not UTF-8 text (its first bytes hold binary data).",
            expected="plain-text files in UTF-8",
            fix="remove the file from the corpus, or convert it to UTF-8 text",
        )


def split_by_position(pieces, validation_split, test_split=0.0):
    """Pieces -> (train, validation, test) pieces: the corpus' first part, then validation, then test.

    Each cut is moved forward to the next line start, so no line is on both sides.

    Examples:
        >>> train, val, test = split_by_position([Piece(text="aaaa\\nbbbb\\ncccc\\ndddd\\n")], 0.25)
        >>> [p.text for p in train], [p.text for p in val], test
        (['aaaa\\nbbbb\\ncccc\\n'], ['dddd\\n'], [])
    """
    total = sum(p.size() for p in pieces)
    cuts = [total * (1 - validation_split - test_split), total * (1 - test_split)]
    bounds = [0] + [_line_start(pieces, int(round(c))) for c in cuts] + [total]
    parts = [_range(pieces, bounds[i], bounds[i + 1]) for i in range(3)]
    return parts[0], parts[1], parts[2]


def _line_start(pieces, offset):
    """The first corpus offset at or after `offset` that starts a line (or a piece)."""
    position = 0
    for piece in pieces:
        size = piece.size()
        if offset <= position:
            return position
        if offset < position + size:
            data = piece.text.encode("utf-8") if piece.text is not None else None
            within = offset - position
            if within == 0 or piece.tfds is not None:  # any example starts a record
                return offset
            if piece.table is not None and piece.table[0] is not None:  # CSV: a record may span lines
                return position + _record_end(piece.path, piece.start + within - 1, piece.table[0]) - piece.start
            if data is not None:
                newline = data.find(b"\n", within - 1)
            else:
                newline = _find_newline(piece.path, piece.start + within - 1, piece.end)
                newline = -1 if newline < 0 else newline - piece.start
            return position + (size if newline < 0 else newline + 1)
        position += size
    return position


def _find_newline(path, start, end):
    with open(path, "rb") as f:
        f.seek(start)
        while start < end:
            block = f.read(min(1 << 16, end - start))
            if not block:
                return -1
            found = block.find(b"\n")
            if found >= 0:
                return start + found
            start += len(block)
    return -1


def _range(pieces, start, end):
    """The pieces covering corpus bytes [start, end)."""
    out, position = [], 0
    for piece in pieces:
        size = piece.size()
        a, b = max(start, position), min(end, position + size)
        if a < b:
            if piece.text is not None:
                out.append(Piece(text=piece.text.encode("utf-8")[a - position : b - position].decode("utf-8")))
            else:
                out.append(piece.part(a - position, b - position))
        position += size
    return out


def chunks(pieces):
    """Yields the text of `pieces` in order, in chunks of about `CHUNK_BYTES`, decoding UTF-8 across chunk edges.

    Examples:
        >>> list(chunks([Piece(text="ab"), Piece(text="c")]))
        ['ab', 'c']
    """
    for piece in pieces:
        if piece.text is not None:
            for i in range(0, len(piece.text), CHUNK_BYTES):
                yield piece.text[i : i + CHUNK_BYTES]
            continue
        if piece.table is not None or piece.tfds is not None:
            yield from _joined(_tfds_texts(piece) if piece.tfds is not None else _table_texts(piece))
            continue
        decoder = codecs.getincrementaldecoder("utf-8")()
        with open(piece.path, "rb") as f:
            f.seek(piece.start)
            left = piece.end - piece.start
            while left > 0:
                block = f.read(min(CHUNK_BYTES, left))
                if not block:
                    break
                left -= len(block)
                try:
                    text = decoder.decode(block, final=left <= 0)
                except UnicodeDecodeError as error:
                    raise ToolkitError(
                        f"'{piece.path}' is not UTF-8 text near byte {piece.end - left - len(block) + error.start}.",
                        expected="plain-text files in UTF-8",
                        fix="convert the file to UTF-8, or remove it from the corpus",
                    ) from None
                if text:
                    yield text


def _joined(texts):
    """Documents -> chunks of about `CHUNK_BYTES` characters, each document ended by a line break."""
    held, size = [], 0
    for text in texts:
        held.append(text if text.endswith("\n") else text + "\n")
        size += len(held[-1])
        if size >= CHUNK_BYTES:
            yield "".join(held)
            held, size = [], 0
    if held:
        yield "".join(held)


def _table_texts(piece):
    """The text column of a table piece's records; a record without it is an error naming its line."""
    delimiter, column = piece.table
    lines = _lines(piece)
    if delimiter is None:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"Line {number} from byte {piece.start} of '{piece.path}'"
            text = readers.parse_json_line(line, where, JSON_EXAMPLE).get(column)
            if not isinstance(text, str):
                raise ToolkitError(
                    f"A record of '{piece.path}' has no text under {column!r}: {line.strip()[:80]}",
                    expected=f"every record with a string under {column!r}",
                    fix="fix or drop that record, or name another key with text_column=",
                )
            yield text
        return
    for row in csv.reader(lines, delimiter=delimiter):
        if not row:
            continue
        if column >= len(row):
            raise ToolkitError(
                f"A row of '{piece.path}' has {len(row)} column(s), fewer than the text column {column + 1}: "
                f"{delimiter.join(row)[:80]!r}",
                expected=f"column {column + 1} in every row",
                fix="fix that row, or name another column with text_column=",
            )
        yield row[column]


def _lines(piece):
    """The lines of a file piece, decoded, read one at a time (a part of gigabytes streams)."""
    with open(piece.path, "rb") as f:
        f.seek(piece.start)
        position = piece.start
        while position < piece.end:
            line = f.readline()
            if not line:
                return
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                raise ToolkitError(
                    f"'{piece.path}' is not UTF-8 text near byte {position}.",
                    expected="a UTF-8 text table",
                    fix="convert the file to UTF-8",
                ) from None
            position += len(line)


def _tfds_texts(piece):

    spec, _, key, data_dir = piece.tfds
    dataset, _ = tfds_lib.load_tfds(spec, data_dir, as_supervised=False)
    # TFDS reads a split in a fixed order (files not shuffled), so example ranges are positions.
    for example in dataset.skip(piece.start).take(piece.end - piece.start).as_numpy_iterator():
        value = example[key]
        yield value.decode("utf-8") if isinstance(value, bytes) else str(value)


def describe_size(pieces):
    if pieces and pieces[0].tfds is not None:
        return f"{sum(p.size() for p in pieces):,} examples"
    size = sum(p.size() for p in pieces)
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size:,} bytes"
