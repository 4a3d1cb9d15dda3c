"""Reads series to forecast in the forms they ship in: a long table (CSV / TSV / Parquet / JSON Lines /
DataFrame / dict of columns) with a time column, one or more target columns, an optional id column for
many series and covariate columns, or arrays of values a step.

pandas parses the times and inserts missing timestamps (`date_range` at the inferred frequency); what is
ours is finding the time column, inferring the frequency where `pandas.infer_freq` gives up on gaps, and
the three-part errors (no time column, duplicate timestamps, irregular times, a constant series).
"""

import dataclasses
import re

import numpy as np
import pandas as pd

from toolkit.errors import ToolkitError

FORMS = (
    "a CSV / TSV / Parquet / JSON Lines file or a pandas DataFrame or dict of columns with a time column "
    "(dates, '1949-01' months, years, timestamps or step numbers) and target columns (target=), with an id "
    "column (id_column=) for many series in one long table; or an array of values a step (steps,) or "
    "(steps, targets), or a list of such arrays (one a series)"
)
TIME_NAMES = ("date", "datetime", "time", "timestamp", "ds", "day", "week", "month", "quarter", "year", "period")
# Steps a season has, by the frequency pandas infers (its offset's name without the anchor): the seasonal-naive
# baseline's period, MASE's scale and the lookback's least length.
SEASONS = {"h": 24, "D": 7, "B": 5, "W": 52, "MS": 12, "ME": 12, "M": 12, "QS": 4, "QE": 4, "Q": 4, "min": 60}


@dataclasses.dataclass
class Series:
    """One series: `values` (steps, targets) float32 with NaN where missing, `past` / `known` covariates
    (steps, k) float32, `times` (a pandas DatetimeIndex, or None for step numbers), its id."""

    id: str
    values: np.ndarray
    known: np.ndarray
    past: np.ndarray
    times: pd.DatetimeIndex | None = None


@dataclasses.dataclass
class Panel:
    """The series of one dataset and what they share: target and covariate names, the frequency."""

    series: list
    targets: list
    known: list
    past: list
    frequency: str | None
    about: str
    inserted: int = 0  # timestamps that were missing and were inserted (values NaN)


def read_panel(data, target=None, time_column=None, id_column=None, covariates=(), past_covariates=(),
               frequency=None):  # fmt: skip
    """Any accepted form -> a `Panel`.

    Examples:
        >>> panel = read_panel({"month": ["2020-01", "2020-02", "2020-04"], "sales": [1.0, 2.0, 4.0]}, target="sales")
        >>> panel.frequency, panel.inserted, panel.series[0].values.ravel().tolist()
        ('MS', 1, [1.0, 2.0, nan, 4.0])
        >>> read_panel([1.0, 2.0, 3.0, 5.0]).series[0].values.shape
        (4, 1)
    """
    if isinstance(data, (list, tuple, np.ndarray)) and not _is_rows(data):
        return _from_arrays(data, target)
    from tasks.tables.data import read_table  # the table family's readers: every file form and a DataFrame copy

    frame = read_table(data).reset_index(drop=True)
    about = frame.attrs.get("about", type(data).__name__)
    time_column = time_column or find_time_column(frame, about)
    targets = _targets(frame, target, time_column, id_column, covariates, past_covariates, about)
    known, past = list(covariates or ()), list(past_covariates or ())
    for name in [id_column] * bool(id_column) + known + past:
        if name not in frame.columns:
            raise ToolkitError(
                f"{about} has no column {name!r}.", expected=f"one of {_names(frame)}", fix="check the column name"
            )
    times = parse_times(frame[time_column], time_column, about)
    groups = frame.groupby(frame[id_column].astype(str), sort=False) if id_column else [("series", frame)]
    frequency = frequency or infer_frequency(times, frame[id_column].astype(str) if id_column else None)
    series, inserted = [], 0
    for key, rows in groups:
        one, added = _one_series(str(key), rows, times[rows.index], targets, known, past, frequency, about)
        series.append(one)
        inserted += added
    return Panel(series, targets, known, past, frequency, about, inserted)


def find_time_column(frame, about):
    """The time column: the one named like a time ("Date", "week", "YEAR", ...), else the one of dates."""
    for column in frame.columns:
        name = re.sub(r"[^a-z]", "", str(column).lower())
        if name in TIME_NAMES or name.endswith(("date", "time")):
            return column
    for column in frame.columns:
        textual = frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column])
        if textual and _dates(frame[column]) is not None:
            return column
    raise ToolkitError(
        f"{about} has no time column (columns: {_names(frame)}).",
        expected="a column of dates, months ('1949-01'), years or timestamps, named like 'date', 'month' or 'year'",
        fix="name it with time_column=",
    )


def parse_times(column, name, about):
    """A time column -> a DatetimeIndex (years as whole numbers become 1 January of the year), or an
    integer index for step numbers."""
    if pd.api.types.is_integer_dtype(column) or (
        pd.api.types.is_float_dtype(column) and column.notna().all() and (column % 1 == 0).all()
    ):
        values = column.astype(int)
        if "year" in str(name).lower() or values.between(1000, 2999).all():
            return pd.DatetimeIndex(pd.to_datetime(values.astype(str), format="%Y"))
        return pd.Index(values)  # step numbers
    parsed = _dates(column)
    if parsed is None:
        bad = next((v for v in column if _dates(pd.Series([v])) is None), column.iloc[0])
        raise ToolkitError(
            f"The time column {name!r} of {about} holds {bad!r}, which is not a time.",
            expected="dates ('2020-01-31'), months ('2020-01'), years, timestamps or step numbers",
            fix="fix that value, or name the right column with time_column=",
        )
    return pd.DatetimeIndex(parsed)


def infer_frequency(times, ids=None):
    """The frequency of a time index (pandas' offset alias), read on the first series; None for step numbers.

    `pandas.infer_freq` needs every step present; with gaps, the most common spacing decides.
    """
    if not isinstance(times, pd.DatetimeIndex):
        return None
    first = times if ids is None else times[(ids == ids.iloc[0]).to_numpy()]
    ordered = first.sort_values().unique()
    if len(ordered) >= 3:
        found = pd.infer_freq(ordered)
        if found:
            return found
    seconds = pd.Series(np.diff(ordered.values).astype("timedelta64[s]").astype(float)).mode()
    if seconds.empty:
        return "D"
    step = float(seconds.iloc[0]) / 86400
    for low, high, alias in ((365, 366, "YS"), (90, 92, "QS"), (28, 31, "MS"), (7, 7, "W"), (1, 1, "D")):
        if low <= step <= high:
            if alias in ("MS", "QS", "YS") and (ordered.day != 1).any():
                return alias.replace("S", "E")
            if alias == "W":
                return f"W-{ordered[0].day_name()[:3].upper()}"
            return alias
    return pd.tseries.frequencies.to_offset(pd.Timedelta(seconds=float(seconds.iloc[0]))).freqstr


def season_of(frequency):
    """Steps in a season for a frequency (12 for months, 7 for days); 1 when it has none (years, steps)."""
    if not frequency:
        return 1
    base = re.sub(r"^\d+", "", frequency.split("-")[0])
    return SEASONS.get(base, 1)


def _one_series(key, rows, times, targets, known, past, frequency, about):
    order = np.argsort(times.asi8 if isinstance(times, pd.DatetimeIndex) else np.asarray(times), kind="stable")
    rows, times = rows.iloc[order], times[order]
    duplicated = times.duplicated()
    if duplicated.any():
        raise ToolkitError(
            f"Series {key!r} of {about} has the time {times[duplicated][0]} more than once.",
            expected="one row per time in each series",
            fix="aggregate the duplicates (sum or mean), or name the column that tells series apart with id_column=",
        )
    frame = rows.set_index(times)
    if isinstance(times, pd.DatetimeIndex):
        full = pd.date_range(times[0], times[-1], freq=frequency)
        off_grid = times.difference(full)
        if len(off_grid):
            raise ToolkitError(
                f"Series {key!r} of {about} has times off its {frequency} steps (e.g. {off_grid[0]}).",
                expected="times at one regular frequency",
                fix="pass frequency= that fits every time, or resample the data to one frequency",
            )
    else:
        full = pd.RangeIndex(times[0], times[-1] + 1)
    frame = frame.reindex(full)
    values = _numbers(frame, targets, key, about)
    if np.isinf(values).any():
        raise ToolkitError(f"Series {key!r} of {about} holds an infinite value.",
                           expected="finite numbers (empty cells for missing ones)", fix="fix or empty those cells")  # fmt: skip
    for j, name in enumerate(targets):
        seen = values[:, j][~np.isnan(values[:, j])]
        if len(seen) and np.ptp(seen) == 0:
            raise ToolkitError(
                f"Series {key!r} of {about} is constant: {name!r} is {seen[0]:g} at every step.",
                expected="a target that changes over time",
                fix="leave that series out (a constant needs no model), or check the target column",
            )
    return Series(
        key,
        values,
        _numbers(frame, known, key, about),
        _numbers(frame, past, key, about),
        full if isinstance(full, pd.DatetimeIndex) else None,
    ), len(full) - len(times)


def _numbers(frame, names, key, about):
    if not names:
        return np.zeros((len(frame), 0), np.float32)
    try:
        return frame[list(names)].apply(pd.to_numeric).to_numpy(np.float32)
    except (ValueError, TypeError) as error:
        raise ToolkitError(
            f"Series {key!r} of {about}: a column of {names} is not numbers ({error}).",
            expected="numbers in target and covariate columns (empty cells for missing ones)",
            fix="fix that cell, or leave the column out",
        ) from None


def _targets(frame, target, time_column, id_column, covariates, past_covariates, about):
    if target is not None:
        targets = [target] if isinstance(target, str) else list(target)
        missing = [t for t in targets if t not in frame.columns]
        if missing:
            raise ToolkitError(f"{about} has no column {missing[0]!r}.", expected=f"one of {_names(frame)}",
                               fix="name the target column(s) with target=")  # fmt: skip
        return targets
    taken = {time_column, id_column, *(covariates or ()), *(past_covariates or ())}
    numeric = [c for c in frame.columns if c not in taken and pd.api.types.is_numeric_dtype(frame[c])]
    others = [c for c in frame.columns if c not in taken]
    if not numeric and len(others) == 1:
        bad = next((v for v in frame[others[0]] if pd.isna(pd.to_numeric(pd.Series([v]), errors="coerce")[0])), None)
        raise ToolkitError(
            f"The column {others[0]!r} of {about} holds {bad!r}: not numbers, so nothing to forecast.",
            expected="numbers in the target column (empty cells for missing ones)",
            fix="fix those cells, or name the target column with target=",
        )
    if len(numeric) != 1:
        raise ToolkitError(
            f"{about} has {len(numeric)} numeric columns besides the time: {numeric[:6]}; which to forecast?",
            expected="target= naming the column(s) to forecast",
            fix="pass target='column' (or a list of columns)",
        )
    return numeric


def _from_arrays(data, target):
    arrays = [np.asarray(data, np.float32)] if _is_one(data) else [np.asarray(a, np.float32) for a in data]
    series = []
    for i, values in enumerate(arrays):
        values = values.reshape(len(values), -1)
        if np.isinf(values).any():
            raise ToolkitError(f"Series {i} holds an infinite value.", expected="finite numbers (NaN where missing)",
                               fix="fix or replace those values with NaN")  # fmt: skip
        empty = np.zeros((len(values), 0), np.float32)
        series.append(Series(str(i), values, empty, empty))
    width = {s.values.shape[1] for s in series}
    if len(width) > 1:
        raise ToolkitError(f"The series have {sorted(width)} targets each.", expected="the same targets in every series",
                           fix="give every series the same columns")  # fmt: skip
    names = [target] if isinstance(target, str) else list(target or [])
    names = names or (["value"] if width == {1} else [f"value_{j}" for j in range(width.pop())])
    return Panel(series, names, [], [], None, "arrays")


def _is_one(data):
    """A single series: numbers, or (steps, targets) rows of numbers."""
    array = np.asarray(data, dtype=object) if not isinstance(data, np.ndarray) else data
    return array.ndim == 1 and all(np.isscalar(v) for v in array) or (array.ndim == 2 and isinstance(data, np.ndarray))


def _is_rows(data):
    return isinstance(data, (list, tuple)) and bool(data) and all(isinstance(row, dict) for row in data)


def _dates(column):
    text = column.dropna().astype(str)
    if text.empty or text.str.fullmatch(r"-?\d+(\.\d+)?").all():
        return None
    try:
        return pd.to_datetime(column, format="mixed") if len(text) else None
    except (ValueError, TypeError, OverflowError):
        return None


def _names(frame, most=12):
    names = [str(c) for c in frame.columns[:most]]
    return ", ".join(names) + (", ..." if len(frame.columns) > most else "")
