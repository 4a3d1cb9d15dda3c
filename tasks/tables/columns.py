"""Column types, inferred from the training part, and the values each type hands the model.

A column is numeric, categorical (strings, or whole numbers with few distinct values), boolean, free
text, a date / timestamp, or id-like (every value distinct: left out, with a note). The model takes
one input per column: numbers as float32 with NaN for a missing value, everything else as a string
with "" for a missing one (dates as ISO 8601 text, which the model splits into year, month, day of
week, ...). `model_values` makes those inputs from any DataFrame, for training and prediction alike.
"""

import re

import numpy as np
import pandas as pd

from toolkit.errors import ToolkitError

TYPES = ("numeric", "categorical", "boolean", "text", "date", "id")
# Whole numbers with at most this many distinct values are categories (a year of three values, a
# 1-5 rating); more are quantities.
FEW_VALUES = 10
# A string column is free text when its values average at least this many words.
TEXT_WORDS = 3
# An all-distinct column is an id only from this many rows on (five distinct colours are a category).
ID_ROWS = 20
MISSING_WORDS = {"", "na", "n/a", "nan", "null", "none"}
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "t", "y"}, {"false", "no", "f", "n"}
DATE_PATTERN = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4}|\d{4}/\d{1,2}/\d{1,2})([ T].*)?$")
ID_NAME = re.compile(r"(^|_)(id|index|key|uuid|row)$", re.IGNORECASE)


def missing(values):
    """A boolean array: which entries of a Series are missing (NaN, None, or a word such as "NA").

    Examples:
        >>> missing(pd.Series(["a", "", "NA", None, "null"])).tolist()
        [False, True, True, True, True]
    """
    gone = np.array(values.isna(), dtype=bool)  # a copy: pandas' own arrays are read-only
    if not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        words = values.astype(object).map(lambda v: str(v).strip().lower() if v is not None else "")
        gone |= words.isin(MISSING_WORDS).to_numpy()
    return gone


def infer_type(values, name=""):
    """The type of one column from its training values (see `TYPES`), or None when it has no values.

    Examples:
        >>> infer_type(pd.Series([39.1, 40.3, None])), infer_type(pd.Series(["Biscoe", "Dream", "Biscoe"]))
        ('numeric', 'categorical')
        >>> infer_type(pd.Series([2007, 2008, 2007])), infer_type(pd.Series(["yes", "no", "NA"]))
        ('categorical', 'boolean')
        >>> infer_type(pd.Series(["2020-01-03", "2021-11-30"])), infer_type(pd.Series(["a dull and long film", "quite fine in the end"]))
        ('date', 'text')
    """
    present = values[~missing(values)]
    if len(present) == 0:
        return None
    distinct = present.astype(str).nunique()
    if pd.api.types.is_bool_dtype(present) or _booleans(present):
        return "boolean"
    numbers = as_numbers(present)
    if numbers is not None:
        whole = bool(np.all(np.equal(np.mod(numbers, 1), 0)))
        if whole and distinct == len(present) >= ID_ROWS and (ID_NAME.search(name) or _consecutive(numbers)):
            return "id"
        if whole and distinct <= FEW_VALUES and distinct < len(present):
            return "categorical"
        return "numeric"
    text = present.astype(str)
    if text.map(lambda v: bool(DATE_PATTERN.match(v))).all() and _dates(text) is not None:
        return "date"
    if text.str.split().map(len).mean() >= TEXT_WORDS:
        return "text"
    if distinct == len(present) >= ID_ROWS:
        return "id"
    return "categorical"


def _booleans(present):
    words = set(present.astype(str).str.strip().str.lower())
    return len(words) == 2 and words <= TRUE_WORDS | FALSE_WORDS and bool(words & TRUE_WORDS)


def as_numbers(present):
    """The values as floats when every one is a number, else None."""
    if pd.api.types.is_numeric_dtype(present):
        return present.to_numpy(dtype=np.float64)
    numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    return None if numbers.isna().any() else numbers.to_numpy(dtype=np.float64)


def _consecutive(numbers):
    ordered = np.sort(numbers)
    return bool(np.all(np.diff(ordered) == 1))


def _dates(text):
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    return None if parsed.isna().any() else parsed


def model_values(frame, plan):
    """{column: array} of what the model takes for each planned column of `frame` (see the module doc).

    Raises a clear error for a planned column the frame lacks, or a value a numeric column cannot read.

    Examples:
        >>> plan = [{"name": "mass", "type": "numeric"}, {"name": "island", "type": "categorical"}]
        >>> values = model_values(pd.DataFrame({"mass": ["3750", "NA"], "island": ["Biscoe", None]}), plan)
        >>> values["mass"].tolist(), values["island"].tolist()
        ([3750.0, nan], ['Biscoe', ''])
    """
    absent = [column["name"] for column in plan if column["name"] not in frame.columns]
    if absent:
        raise ToolkitError(
            f"The rows lack the column(s) {', '.join(map(repr, absent))} the model was trained on.",
            expected=f"every feature column: {', '.join(column['name'] for column in plan)}",
            fix="add the columns (a missing value may be empty or NA; the model fills it in)",
        )
    return {input_name(column): _values(frame[column["name"]], column) for column in plan}


def input_name(column):
    """The name of the model input a planned column feeds (the column's name, made a valid Keras name)."""
    return column.get("input", column["name"])


def input_names(names):
    """Model input names for column names: characters Keras refuses in a name ("/", spaces, ...) become "_",
    and a name two columns would share gets its position.

    Examples:
        >>> input_names(["od280/od315_of_diluted_wines", "mass (g)", "mass__g_"])
        ['od280_od315_of_diluted_wines', 'mass__g_', 'mass__g__2']
    """
    chosen = []
    for i, name in enumerate(names):
        safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or f"column_{i}"
        chosen.append(safe if safe not in chosen else f"{safe}_{i}")
    return chosen


def _values(series, column):
    gone = missing(series)
    kind = column["type"]
    if kind == "numeric":
        numbers = pd.to_numeric(series.where(~gone, None).astype(object), errors="coerce").to_numpy(np.float64)
        infinite = np.flatnonzero(np.isinf(numbers))
        if len(infinite):
            raise ToolkitError(
                f"Column {column['name']!r} holds an infinite value (row {int(infinite[0])}).",
                expected="finite numbers, or an empty / NA cell for a missing one",
                fix="replace the infinite values (an empty cell is filled in as missing)",
            )
        bad = np.flatnonzero(np.isnan(numbers) & ~gone)
        if len(bad):
            raise ToolkitError(
                f"Column {column['name']!r} holds {series.iloc[bad[0]]!r} (row {int(bad[0])}), which is not a number.",
                expected=f"numbers in {column['name']!r} (the model learned it as numeric), or an empty / NA cell",
                fix="correct the value, or leave the cell empty",
            )
        return numbers.astype(np.float32)
    if kind == "date":
        parsed = pd.to_datetime(series.where(~gone, None), errors="coerce", format="mixed")
        return np.array(["" if pd.isna(t) else t.strftime("%Y-%m-%dT%H:%M:%S") for t in parsed], dtype=object)
    text = series.astype(object).map(cell_text)
    text[gone] = ""
    if kind == "boolean":
        text = text.str.lower().map(lambda w: "true" if w in TRUE_WORDS else "false" if w in FALSE_WORDS else w)
    return text.to_numpy(dtype=object)


def cell_text(value):
    """A cell as the string a category is known by: whole floats without ".0" (2007.0 and 2007 are one year)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()
