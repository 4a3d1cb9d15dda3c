"""Readers of the files users hand the toolkit: manifests, text files in any common encoding, JSON Lines.

Every reader names the file and line it could not read, and says what it expected there.
"""

import csv
import json
import os
import pathlib

from toolkit.errors import ToolkitError


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
