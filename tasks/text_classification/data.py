"""Text classification inputs: every accepted form -> (texts, labels, class names).

Files are decoded as strict UTF-8: a byte that does not decode is an error
naming the file and line, never a silently replaced character. Rows whose
text or label is empty are skipped with a warning that counts them.
"""

import csv
import io
import os
import pathlib
import warnings

import numpy as np
import tensorflow as tf

from toolkit import data as data_lib
from toolkit import readers
from toolkit import tfds as tfds_lib
from toolkit.errors import ToolkitError

ACCEPTED = (
    "a (texts, labels) tuple, a CSV / TSV / JSON Lines file, a folder of class subfolders of .txt files, "
    "a tf.data.Dataset of (text, label), or 'tfds:NAME'"
)
# Column names recognised without `columns=`, in order of preference.
TEXT_NAMES = ("text", "sentence", "review", "content", "document", "comment", "body")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target")


def load_source(data, columns=None, data_dir=None, say=None):
    """Returns (texts, labels, class_names); class_names is None unless the source names its classes.

    `texts` is the index the datasets read: a list of strings (the records of a table file or
    of the user's lists), `TextFiles` (a class folder's paths, read inside tf.data), or a
    `toolkit.data.Stream` (a tf.data / TFDS source, never pulled into memory).

    Args:
        data: any form in `ACCEPTED`.
        columns: (text column, label column) of a file, by name or 0-based
            position; default: recognised header names, else in a two-column
            file the column with the longer cells is the text. A first row
            is a header when it names recognised columns or looks unlike the
            rows below it (see `_looks_like_header`).
        data_dir: TFDS data folder for "tfds:NAME".
        say: called with one line naming the columns a table file's data was read from.

    Examples:
        >>> load_source((["good", "bad"], [1, 0]))
        (['good', 'bad'], [1, 0], None)
        >>> load_source("no/such/file.csv")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: Data path 'no/such/file.csv' does not exist.
        ...
    """
    if data is None:
        raise ToolkitError(
            "No training data was given, and text classification has no built-in dataset.",
            expected=ACCEPTED,
            fix="pass data=... (CLI: --data train.tsv)",
        )
    if isinstance(data, tf.data.Dataset):
        return stream(data_lib.unbatched(data), "the tf.data.Dataset") + (None,)
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], str):
        texts, labels = data
        texts = [t.item() if isinstance(t, np.generic) else t for t in texts]
        labels = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
        data_lib.check_same_length(texts, labels)
        return _clean(_decode_all(texts, "the texts"), labels, "the texts") + (None,)
    if isinstance(data, str) and data.startswith("tfds:") and not os.path.exists(data):
        dataset, names = tfds_lib.load_tfds(data, data_dir)
        texts, labels = stream(data_lib.unbatched(dataset), data)
        if names:
            labels = [names[int(label)] for label in labels]
        return texts, labels, names
    if isinstance(data, (str, os.PathLike)):
        path = readers.existing_path(data, ACCEPTED)
        if path.is_dir():
            return read_class_folders(path) + (None,)
        return read_table(path, columns, say) + (None,)
    raise ToolkitError(
        f"Cannot use {type(data).__name__} as text classification data.",
        expected=ACCEPTED,
        fix="convert the data to one of those forms",
    )


def read_table(path, columns=None, say=None):
    """Reads texts and labels from a .csv, .tsv or .jsonl file. Returns (texts, labels).

    `say`, when given, is called with one line naming the columns chosen and whether a header was found.

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.tsv"
        >>> _ = path.write_text("a fine film\\t1\\nawful\\t0\\n\\t1\\n")
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     read_table(path)
        (['a fine film', 'awful'], ['1', '0'])
        >>> str(caught[0].message)
        "Skipped 1 of 3 rows of 'train.tsv' with an empty or missing text or label (lines [3])."
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".json"):
        raise ToolkitError(
            f"Cannot read '{path}' as text classification data (unknown file type '{suffix}').",
            expected="a .csv, .tsv or .jsonl (JSON Lines) file, or a folder of class subfolders of .txt files",
            fix="rename the file to its real type, or convert it to CSV",
        )
    content = decode(path.read_bytes(), path)
    if suffix in (".jsonl", ".json"):
        records, line_numbers = readers.read_json_lines(content, path, '{"text": "a fine film", "label": "pos"}')
        text_key, label_key, how = _choose_keys(records, columns, path)
        if say:
            say(f"Reading '{path.name}': text from key {text_key!r}, labels from key {label_key!r} ({how}).")
        texts = [record.get(text_key) for record in records]
        labels = [record.get(label_key) for record in records]
        return _clean(texts, labels, path.name, line_numbers)
    rows = list(csv.reader(io.StringIO(content, newline=""), delimiter="\t" if suffix == ".tsv" else ","))
    line_numbers = [i + 1 for i, row in enumerate(rows) if row]
    rows = [row for row in rows if row]
    if not rows:
        raise ToolkitError(f"'{path}' has no rows.", expected="one example per row", fix="check the file")
    header, text_at, label_at, how = _choose_columns(rows, columns, path)
    if say:
        name = lambda i: repr(rows[0][i].strip()) if header and i < len(rows[0]) else f"{i}"  # noqa: E731
        say(
            f"Reading '{path.name}': "
            + (f"header row {[c.strip() for c in rows[0]]}" if header else "no header row")
            + f"; text from column {name(text_at)}, labels from column {name(label_at)} ({how})."
        )
    if header:
        rows, line_numbers = rows[1:], line_numbers[1:]
    short = [n for n, row in zip(line_numbers, rows) if len(row) <= max(text_at, label_at)]
    if short:
        raise ToolkitError(
            f"{len(short)} rows of '{path}' have fewer than {max(text_at, label_at) + 1} columns (lines {short[:5]}).",
            expected=f"text in column {text_at} and label in column {label_at} of every row",
            fix="fix those rows, or quote texts that contain the delimiter",
        )
    return _clean([row[text_at] for row in rows], [row[label_at] for row in rows], path.name, line_numbers)


class TextFiles:
    """The .txt files of a class folder, one example each: the index keeps paths, tf.data reads them.

    Examples:
        >>> files = TextFiles(["a.txt", "b.txt", "c.txt"])
        >>> len(files), files.part([2, 0]).paths.tolist()
        (3, ['c.txt', 'a.txt'])
    """

    def __init__(self, paths):
        self.paths = np.asarray([str(p) for p in paths])

    def __len__(self):
        return len(self.paths)

    def part(self, indices):
        return TextFiles(self.paths[np.asarray(indices, dtype=int)])

    def read(self, limit=None):
        """The texts of the first `limit` files (all by default), read and checked here in Python."""
        return [decode(pathlib.Path(p).read_bytes(), p) for p in self.paths[:limit]]


def read_class_folders(root):
    """Indexes a folder of class subfolders of .txt files (one example per file). Returns (TextFiles, labels).

    Empty files are skipped with a warning; the texts are read inside tf.data while training.

    Examples:
        >>> import tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for label, text in [("pos", "loved it"), ("neg", "hated it")]:
        ...     (root / label).mkdir()
        ...     _ = (root / label / "1.txt").write_text(text)
        >>> files, labels = read_class_folders(root)
        >>> files.read(), labels
        (['hated it', 'loved it'], ['neg', 'pos'])
    """
    root = pathlib.Path(root)
    files = sorted(p for p in root.glob("*/*") if p.is_file() and p.suffix.lower() == ".txt")
    if not files:
        raise ToolkitError(
            f"Folder '{root}' has no class subfolders of .txt files.",
            expected="root/<class name>/<any name>.txt, one example per file",
            fix="arrange the files so, or pass a CSV / TSV / JSON Lines file",
        )
    empty = [p for p in files if p.stat().st_size == 0]
    if empty:
        warnings.warn(
            f"Skipped {len(empty)} of {len(files)} examples of '{root}' with an empty text "
            f"(at {[str(p.relative_to(root)) for p in empty[:5]]}{', ...' if len(empty) > 5 else ''}).",
            stacklevel=2,
        )
        files = [p for p in files if p.stat().st_size > 0]
        if not files:
            raise ToolkitError(
                f"Every .txt file of '{root}' is empty.", expected="non-empty texts", fix="check the files"
            )
    return TextFiles(files), [p.parent.name for p in files]


def file_texts(paths):
    """A dataset of the texts of .txt files, read inside tf.data (a byte-order mark is dropped).

    A file that is not UTF-8 stops the pass with an error naming "toolkit: not UTF-8";
    `find_undecodable` then names the file.

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = path.write_bytes(b"\\xef\\xbb\\xbfcaf\\xc3\\xa9")
        >>> [t.decode() for t in file_texts([str(path)]).as_numpy_iterator()]
        ['café']
    """
    return tf.data.Dataset.from_tensor_slices(np.asarray(paths, dtype=str)).map(
        lambda path: checked_utf8(tf.io.read_file(path)), num_parallel_calls=tf.data.AUTOTUNE
    )


def checked_utf8(text):
    """A string tensor without its byte-order mark, asserted to be valid UTF-8."""
    text = tf.strings.regex_replace(text, "^\ufeff", "")
    valid = tf.reduce_all(tf.equal(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), text))
    with tf.control_dependencies([tf.debugging.assert_equal(valid, True, message="toolkit: not UTF-8")]):
        return tf.identity(text)


def find_undecodable(paths, limit=5):
    """The first files among `paths` that are not valid UTF-8, each as its `decode` error message."""
    found = []
    for path in paths:
        try:
            decode(pathlib.Path(path).read_bytes(), path)
        except ToolkitError as error:
            found.append(error.args[0] if error.args else str(error))
            if len(found) >= limit:
                break
    return found


def stream(source, name):
    """A dataset of (text, label) pairs as a `Stream` of its examples with a non-empty text and label.

    One pass reads the labels and checks the texts (strings, valid UTF-8); examples with an
    empty text are skipped with a warning, like empty rows of a file. Returns (Stream, labels).

    Examples:
        >>> pairs = tf.data.Dataset.from_tensor_slices((["good", " ", "bad"], [1, 1, 0]))
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     texts, labels = stream(pairs, "the dataset")
        >>> texts.indices.tolist(), labels
        ([0, 2], [1, 0])
    """
    text_spec, label_spec = source.element_spec
    if text_spec.dtype != tf.string or text_spec.shape.rank not in (0, None):
        raise ToolkitError(
            f"The texts of {name} are {text_spec.dtype.name} tensors of shape {text_spec.shape}.",
            expected="one string per example",
            fix="map the dataset to (text, label) pairs of strings (decode token ids back to text first)",
        )

    def check(text, label):
        valid = tf.reduce_all(tf.equal(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), text))
        return tf.strings.length(tf.strings.strip(text)) > 0, valid, label

    kept, labels, invalid, skipped, total = [], [], [], [], 0
    for i, (present, valid, label) in enumerate(source.map(check).as_numpy_iterator()):
        total += 1
        if not valid:
            invalid.append(i)
        label = label.decode("utf-8", "replace").strip() if isinstance(label, bytes) else label.item()
        if present and label != "":
            kept.append(i)
            labels.append(label)
        else:
            skipped.append(i)
    if invalid:
        raise ToolkitError(
            f"{len(invalid)} texts of {name} are not valid UTF-8 (at positions {invalid[:5]}).",
            expected="UTF-8 strings",
            fix="decode the texts with their real encoding and re-encode them as UTF-8",
        )
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} of {total} examples of '{name}' with an empty text or label "
            f"(at {skipped[:5]}{', ...' if len(skipped) > 5 else ''}).",
            stacklevel=2,
        )
    if not kept:
        raise ToolkitError(
            f"{name} holds no examples with a text and a label.",
            expected="a dataset of (text, label) pairs",
            fix="check it",
        )
    return data_lib.Stream(source, np.array(kept), total), labels


def texts_dataset(texts):
    """The index of one part (strings, `TextFiles` or a `Stream`) -> a dataset of its texts, in order.

    Examples:
        >>> [t.decode() for t in texts_dataset(["a b", "c"]).as_numpy_iterator()]
        ['a b', 'c']
    """
    if isinstance(texts, data_lib.Stream):
        return texts.dataset().map(lambda text, label: text, num_parallel_calls=tf.data.AUTOTUNE)
    if isinstance(texts, TextFiles):
        return file_texts(texts.paths)
    return tf.data.Dataset.from_tensor_slices(tf.constant([str(t) for t in texts], dtype=tf.string))


def word_counts(texts, seed=0, limit=10_000):
    """Words per text of an index: every text of a list or a stream (one pass), a seeded
    sample of at most `limit` files of `TextFiles` (each one must be read).

    Examples:
        >>> pairs = tf.data.Dataset.from_tensor_slices((["a b c", "d"], [0, 1]))
        >>> word_counts(["a b", "c"]), word_counts(data_lib.Stream(pairs, [0], 2))
        ([2, 1], [3])
    """
    if isinstance(texts, TextFiles):
        if len(texts) > limit:
            texts = texts.part(np.sort(np.random.default_rng(seed).choice(len(texts), limit, replace=False)))
        return [len(t.split()) for t in texts.read()]
    if isinstance(texts, data_lib.Stream):
        counts = texts_dataset(texts).map(lambda t: tf.size(tf.strings.split(t)), num_parallel_calls=tf.data.AUTOTUNE)
        return [int(n) for n in counts.as_numpy_iterator()]
    return [len(str(t).split()) for t in texts]


def decode(raw, path):
    """Strict UTF-8 (a byte-order mark is dropped); undecodable bytes are an error naming file and line.

    Examples:
        >>> decode(b"caf\\xc3\\xa9", "a.txt")
        'café'
        >>> decode(b"ok\\ncaf\\xe9", "a.txt")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: 'a.txt' is not valid UTF-8: byte 0xe9 on line 2 (offset 6) does not decode.
        ...
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ToolkitError(
            f"'{path}' is not valid UTF-8: byte 0x{raw[error.start]:02x} on line {line} "
            f"(offset {error.start}) does not decode.",
            expected="text files encoded as UTF-8",
            fix="re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`)",
        ) from None


def _decode_all(texts, source):
    return [decode(t, source) if isinstance(t, bytes) else t for t in texts]


def _clean(texts, labels, source, where=None):
    """Drops examples with an empty or missing text or label, warning with their count. Returns (texts, labels)."""
    where = where or list(range(len(texts)))
    keep, skipped = [], []
    for i, (text, label) in enumerate(zip(texts, labels)):
        if isinstance(label, bytes):
            label = label.decode("utf-8", "replace")
        empty_text = text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip()
        empty_label = (
            label is None
            or (isinstance(label, (float, np.floating)) and np.isnan(label))
            or (isinstance(label, str) and not label.strip())
        )
        (skipped if empty_text or empty_label else keep).append(i)
    bad_types = sorted({type(texts[i]).__name__ for i in keep if not isinstance(texts[i], str)})
    if bad_types:
        raise ToolkitError(
            f"The texts of {source} include values of type {bad_types}.",
            expected="strings",
            fix="convert the texts to str",
        )
    if skipped:
        noun = "rows" if isinstance(where[0], int) else "examples"
        warnings.warn(
            f"Skipped {len(skipped)} of {len(texts)} {noun} of '{source}' with an empty or missing text or label "
            f"({'lines' if noun == 'rows' else 'at'} {[where[i] for i in skipped[:5]]}"
            f"{', ...' if len(skipped) > 5 else ''}).",
            stacklevel=2,
        )
    if not keep:
        raise ToolkitError(
            f"Every example of '{source}' has an empty text or label.",
            expected="non-empty texts with labels",
            fix="check the file's columns (columns=...) and its contents",
        )
    label_of = lambda i: labels[i].strip() if isinstance(labels[i], str) else labels[i]  # noqa: E731
    return [texts[i] for i in keep], [label_of(i) for i in keep]


def _choose_keys(records, columns, path):
    """Returns (text key, label key, how they were chosen) for JSON Lines records."""
    keys = list(records[0].keys()) if records else []
    if columns is not None:
        text_key, label_key = columns
        missing = [c for c in (text_key, label_key) if c not in keys]
        if missing:
            raise _missing_columns(missing, keys, path)
        return text_key, label_key, "as given by columns="
    return _pick(keys, [[record.get(k) for k in keys] for record in records[:_SAMPLE_ROWS]], path)


def _choose_columns(rows, columns, path):
    """Returns (has_header, text index, label index, how they were chosen) for the rows of a CSV / TSV file.

    Without `columns=`, the first row is a header when it names a recognised text and label
    column, or when it looks unlike the rows below it (`_looks_like_header`).
    """
    names = [cell.strip() for cell in rows[0]]
    if columns is not None:
        text_col, label_col = columns
        if isinstance(text_col, str) or isinstance(label_col, str):
            missing = [c for c in (text_col, label_col) if isinstance(c, str) and c not in names]
            if missing:
                raise _missing_columns(missing, names, path)
            index = [names.index(c) if isinstance(c, str) else c for c in (text_col, label_col)]
            return True, *index, "as given by columns="
        # Positions: the first row is a header when it is recognised or looks unlike the rows below.
        header = _recognised(names) or _looks_like_header(rows, label_col)
        return header, text_col, label_col, "as given by columns="
    positions = list(range(len(names)))
    if _recognised(names):
        text_at, label_at, how = _pick(positions, rows[1 : _SAMPLE_ROWS + 1], path, names)
        return True, text_at, label_at, how
    text_at, label_at, how = _pick(positions, rows[1 : _SAMPLE_ROWS + 1], path, names, by_name=False)
    return _looks_like_header(rows, label_at), text_at, label_at, how


# Rows (or records) read to choose the columns and tell a header from data.
_SAMPLE_ROWS = 1000


def _recognised(names):
    lowered = [str(n).strip().lower() for n in names]
    return any(k in lowered for k in TEXT_NAMES) and any(k in lowered for k in LABEL_NAMES)


def _pick(keys, rows, path, names=None, by_name=True):
    """(text key, label key, how) among `keys` (names or positions), given sample rows of cells in that order.

    Recognised names win (`names` are the column names when `keys` are positions). Otherwise,
    with two columns, the text is the one whose cells are longer on average (a review beside its
    star rating, whichever comes first); with more, the user must say.
    """
    names = keys if names is None else names
    lowered = [str(n).strip().lower() for n in names] if by_name else []
    text_at = next((lowered.index(k) for k in TEXT_NAMES if k in lowered), None)
    label_at = next((lowered.index(k) for k in LABEL_NAMES if k in lowered), None)
    if text_at is not None and label_at is not None:
        return keys[text_at], keys[label_at], "recognised column names"
    if len(keys) == 2:
        if text_at is None and label_at is None:
            length = [np.mean([len(str(row[i])) if i < len(row) else 0 for row in rows] or [0]) for i in (0, 1)]
            text_at = int(length[1] > length[0])
            how = "the text column is the one with the longer cells"
        else:
            text_at = text_at if text_at is not None else 1 - label_at
            how = "one recognised column name; the other column holds the " + ("label" if label_at is None else "text")
        return keys[text_at], keys[1 - text_at], how
    raise ToolkitError(
        f"Cannot tell which columns of '{path}' hold the text and the label (columns: {list(names)[:6]}).",
        expected=f"columns named like {TEXT_NAMES[0]!r} and {LABEL_NAMES[0]!r}, or a file with two columns",
        fix="pass columns=(text column, label column), by name or 0-based position (CLI: --columns sentence,label)",
    )


def _looks_like_header(rows, label_at):
    """Whether the first row of a file without recognised column names is a header.

    The check a reader makes by eye: the first row's label cell is not among the labels of the
    rows below while those labels repeat, and its text cell reads like a column name (at most
    three words, no longer than a typical text): a header "review,stars" over rated reviews, but
    not a first review of a rare class. Written here because `csv.Sniffer.has_header` votes on
    cell lengths too, and so takes a first row whose label is a rare class of another length
    ("mixed" over "pos" / "neg") for a header.
    """
    body = rows[1 : _SAMPLE_ROWS + 1]
    if not body:
        return False
    labels = [row[label_at].strip() for row in body if label_at < len(row)]
    first = rows[0][label_at].strip() if label_at < len(rows[0]) else ""
    text_at = 1 - label_at if len(rows[0]) == 2 else None
    name_like = text_at is None or (
        len(rows[0][text_at].split()) <= 3
        and len(rows[0][text_at]) <= np.median([len(row[text_at]) for row in body if text_at < len(row)] or [0])
    )
    return bool(labels) and first not in labels and len(set(labels)) <= max(1, len(labels) // 2) and name_like


def _missing_columns(missing, available, path):
    return ToolkitError(
        f"Column(s) {missing} not found in '{path}'.",
        expected=f"columns among {list(available)[:20]}",
        fix="pass columns=(text column, label column) with names from the file, or 0-based positions",
    )
