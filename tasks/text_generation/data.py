"""A corpus as a light index of byte ranges, split by position, read in chunks.

A corpus is one or more text files (a file, a folder of `.txt` files, read in
name order), a list of strings, or "python-docs" (the built-in default: the
Python standard library's help topics, `pydoc_data.topics`, about 465 KB of
English prose and code that every Python install has). Nothing is read into
memory whole: files are indexed as byte ranges and read in chunks inside
`tf.data`, so a corpus of gigabytes trains like one of a megabyte.

The split is by position, never shuffled in (the last part is validation):
the cut is moved to the next line start, so validation text never shares a
line with training text.
"""

import codecs
import os
import pathlib

from toolkit.errors import ToolkitError

CHUNK_BYTES = 1 << 20  # what one tf.data element holds while reading
BINARY_PROBE_BYTES = 8192
DEFAULT_CORPUS = "python-docs"


class Piece:
    """A byte range of one file, or a string held in memory, in corpus order."""

    def __init__(self, path=None, start=0, end=None, text=None):
        self.path, self.start, self.end, self.text = path, start, end, text

    def size(self):
        return len(self.text.encode("utf-8")) if self.text is not None else self.end - self.start

    def __repr__(self):
        return f"Piece({self.path or 'text'}, {self.start}, {self.end})"


def load_corpus(data):
    """The user's corpus -> (list of `Piece`, a short description).

    Example:
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
    if isinstance(data, (str, os.PathLike)):
        path = pathlib.Path(data)
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

    Example:
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
            if within == 0:
                return offset
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
                out.append(Piece(piece.path, piece.start + a - position, piece.start + b - position))
        position += size
    return out


def chunks(pieces):
    """Yields the text of `pieces` in order, in chunks of about `CHUNK_BYTES`, decoding UTF-8 across chunk edges.

    Example:
    >>> list(chunks([Piece(text="ab"), Piece(text="c")]))
    ['ab', 'c']
    """
    for piece in pieces:
        if piece.text is not None:
            for i in range(0, len(piece.text), CHUNK_BYTES):
                yield piece.text[i : i + CHUNK_BYTES]
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


def describe_size(pieces):
    size = sum(p.size() for p in pieces)
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size:,} bytes"
