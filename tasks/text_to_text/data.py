"""(source, target) text pairs: from Python, a .csv / .tsv / JSON Lines file, or a built-in generated set.

Built in (generated, seeded, so they need no download):
    "dates": dates in many surface forms -> ISO dates ("3rd of March 1999" -> "1999-03-03").
    "number-words": English number words -> digits ("four hundred and twelve" -> "412").
"""

import calendar
import csv
import io
import os
import pathlib

import numpy as np

from toolkit import readers
from toolkit.errors import ToolkitError

GENERATED = ("dates", "number-words")
GENERATED_COUNT = 6000
PAIR_KEYS = (("source", "target"), ("input", "output"), ("question", "answer"))
EXPECTED = "a list of (source, target) string pairs, a .csv / .tsv / .jsonl file of them, or " + " / ".join(
    repr(g) for g in GENERATED
)

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
_ONES = (_ONES + "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n):
    """English words for 0 <= n < 1,000,000 (British "and").

    Examples:
        >>> number_words(412), number_words(7015)
        ('four hundred and twelve', 'seven thousand and fifteen')
    """
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    rest = n % 1000
    joiner = " and " if 0 < rest < 100 else " "
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else joiner + number_words(rest))


def number_word_pairs(count=GENERATED_COUNT, seed=0, most=10_000):
    """`count` distinct (words, digits) pairs for numbers below `most`, drawn with a seed."""
    rng = np.random.default_rng(seed)
    numbers = rng.choice(most, size=min(count, most), replace=False)
    return [(number_words(int(n)), str(int(n))) for n in numbers]


def _ordinal(day):
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


DATE_FORMS = (
    lambda d, m, y: f"{_ordinal(d)} of {calendar.month_name[m]} {y}",
    lambda d, m, y: f"{calendar.month_name[m]} {d}, {y}",
    lambda d, m, y: f"{calendar.month_abbr[m]} {d} {y}",
    lambda d, m, y: f"{d} {calendar.month_name[m].lower()} {y}",
    lambda d, m, y: f"{d:02d}/{m:02d}/{y}",
    lambda d, m, y: f"{d}.{m}.{y}",
    lambda d, m, y: f"{calendar.day_name[calendar.weekday(y, m, d)]}, {d} {calendar.month_abbr[m]} {y}",
    lambda d, m, y: f"the {_ordinal(d)} of {calendar.month_abbr[m].upper()}, {y}",
    lambda d, m, y: f"{calendar.month_name[m].upper()} {_ordinal(d)} {y}",
    lambda d, m, y: f"{y}/{m}/{d}",
)


def date_pairs(count=GENERATED_COUNT, seed=0):
    """`count` distinct (written date, ISO date) pairs, 1900-2099, in the surface forms of `DATE_FORMS`.

    Examples:
        >>> date_pairs(2, seed=0)[0][1][4], len(date_pairs(50))
        ('-', 50)
    """
    rng = np.random.default_rng(seed)
    pairs, seen = [], set()
    while len(pairs) < count:
        y, m = int(rng.integers(1900, 2100)), int(rng.integers(1, 13))
        d = int(rng.integers(1, calendar.monthrange(y, m)[1] + 1))
        source = DATE_FORMS[int(rng.integers(len(DATE_FORMS)))](d, m, y)
        if source not in seen:
            seen.add(source)
            pairs.append((source, f"{y:04d}-{m:02d}-{d:02d}"))
    return pairs


def load_pairs(data, columns=None, seed=0):
    """The user's data -> (list of (source, target) string pairs, a short description).

    Args:
        data: pairs, a file, or the name of a generated set (`GENERATED`).
        columns: (source column, target column) of a file: header names or indices; None: a
            header pair from `PAIR_KEYS` ("source"/"target", "input"/"output", ...), else the first two.
        seed: the generated sets' seed.

    Examples:
        >>> load_pairs([("one", "1"), ("two", "2")])
        ([('one', '1'), ('two', '2')], '2 pairs')
    """
    if isinstance(data, str) and data in GENERATED and not os.path.exists(data):
        pairs = date_pairs(seed=seed) if data == "dates" else number_word_pairs(seed=seed)
        return pairs, f"generated {data!r} ({len(pairs):,} pairs, seed {seed})"
    if isinstance(data, (list, tuple)):
        bad = [i for i, p in enumerate(data) if not _is_pair(p)]
        if not data or bad:
            raise ToolkitError(
                "The pairs must be a non-empty list of (source, target) strings"
                + (f"; item {bad[0]} is {data[bad[0]]!r}" if bad else "; the list is empty")
                + ".",
                expected="[('3rd of March 1999', '1999-03-03'), ...]",
                fix="pass two strings per item",
            )
        return _checked([(str(s), str(t)) for s, t in data], "the pairs"), f"{len(data):,} pairs"
    if isinstance(data, (str, os.PathLike)):
        path = pathlib.Path(data)
        if path.is_dir():
            raise ToolkitError(
                f"'{path}' is a folder: text to text reads one file of pairs.",
                expected=EXPECTED,
                fix="pass the .csv / .tsv / .jsonl file of pairs inside it",
            )
        if not path.is_file():
            raise ToolkitError(f"'{path}' does not exist.", expected=EXPECTED, fix="check the path")
        return _read_file(path, columns), f"'{path}'"
    raise ToolkitError(f"Cannot read pairs from {type(data).__name__}.", expected=EXPECTED, fix="pass one of those")


def _is_pair(item):
    return isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(v, str) for v in item)


def _read_file(path, columns):
    suffix = path.suffix.lower()
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ToolkitError(
            f"'{path}' is not UTF-8 text.", expected="a UTF-8 .csv / .tsv / .jsonl file", fix="convert it"
        ) from None
    if suffix in (".jsonl", ".json"):
        records, _ = readers.read_json_lines(content, path, '{"source": "one", "target": "1"}')
        if not records:
            raise ToolkitError(
                f"'{path}' has no records.", expected="one (source, target) object per line", fix="check it"
            )
        keys = list(records[0])
        names = tuple(columns) if columns else next((k for k in PAIR_KEYS if set(k) <= set(keys)), None)
        if names is None or not set(names) <= set(keys):
            raise ToolkitError(
                f"Cannot tell which keys of '{path}' hold the source and target: keys {keys}.",
                expected="keys 'source' and 'target' (or 'input' / 'output'), or columns=(source key, target key)",
                fix="pass columns=",
            )
        pairs = [(r.get(names[0]), r.get(names[1])) for r in records]
        return _checked([(s, t) for s, t in pairs if isinstance(s, str) and isinstance(t, str)], path, len(pairs))
    if suffix not in (".csv", ".tsv"):
        raise ToolkitError(
            f"Cannot read '{path}' as pairs (unknown file type '{suffix}').", expected=EXPECTED, fix="convert it"
        )
    rows = [r for r in csv.reader(io.StringIO(content, newline=""), delimiter="\t" if suffix == ".tsv" else ",") if r]
    if not rows:
        raise ToolkitError(f"'{path}' has no rows.", expected="one (source, target) pair per row", fix="check it")
    header = [c.strip() for c in rows[0]]
    if columns is not None and all(isinstance(c, str) for c in columns):
        missing = [c for c in columns if c not in header]
        if missing:
            raise ToolkitError(
                f"Column(s) {missing} not found in '{path}': header {header}.",
                expected="columns=(source column, target column) from the header",
                fix="fix columns=",
            )
        at, rows = [header.index(c) for c in columns], rows[1:]
    elif columns is not None:
        at = [int(c) for c in columns]
    else:
        names = next((k for k in PAIR_KEYS if set(k) <= {h.lower() for h in header}), None)
        lowered = [h.lower() for h in header]
        at = [lowered.index(n) for n in names] if names else [0, 1]
        rows = rows[1:] if names else rows
    short = [i for i, r in enumerate(rows) if len(r) <= max(at)]
    if short:
        raise ToolkitError(
            f"{len(short)} row(s) of '{path}' have fewer than {max(at) + 1} columns (row {short[0] + 1}).",
            expected=f"the source in column {at[0] + 1} and the target in column {at[1] + 1} of every row",
            fix="fix those rows, or pass columns=",
        )
    return _checked([(r[at[0]], r[at[1]]) for r in rows], path, len(rows))


def _checked(pairs, where, total=None):
    """Drops pairs with an empty side, with a counted warning; an error when none is left."""
    import warnings

    kept = [(s, t) for s, t in pairs if s.strip() and t.strip()]
    total = len(pairs) if total is None else total
    if not kept:
        raise ToolkitError(
            f"No pair in {where} has both a source and a target.",
            expected="non-empty source and target texts",
            fix="check the data (and columns=)",
        )
    if len(kept) < total:
        warnings.warn(f"Skipped {total - len(kept)} of {total} pairs in {where} with an empty side.", stacklevel=3)
    return kept
