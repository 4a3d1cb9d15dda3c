"""Windows cut from series for training and scoring, split by time, and the scores of forecasts.

A window is an origin `o` in one series: the `lookback` steps before it (every channel, gaps filled in)
and the `horizon` steps from it (the targets, NaN where a value is missing or outside the part being
scored, so they never count as truth). A part of the data is a span of steps [start, end); its windows
are every origin whose targets reach into the span, each scored only on steps inside it: every step of
the span is forecast from each distance 1..horizon. Training's span comes first, then validation's, then
test's, so no window trains on a step that a later part scores.

Written here rather than with `keras.utils.timeseries_dataset_from_array`: that cuts equal windows of one
array, without masks per part, many series or known future covariates (the same stride-1 idea, in NumPy).
"""

import dataclasses

import numpy as np
import pandas as pd

from toolkit.errors import ToolkitError


@dataclasses.dataclass
class Windows:
    """Windows as arrays: `history` (n, lookback, channels), `future` (n, horizon, known covariates),
    `targets` (n, horizon, targets) with NaN where not scored, the series index and origin of each."""

    history: np.ndarray
    future: np.ndarray
    targets: np.ndarray
    series: np.ndarray
    origins: np.ndarray

    def __len__(self):
        return len(self.targets)

    def inputs(self):
        """The model's inputs: {"history"} and, with known covariates, {"future"}."""
        if self.future.shape[-1]:
            return {"history": self.history, "future": self.future}
        return {"history": self.history}


def filled(values):
    """(steps, channels) with NaN gaps -> gaps filled by linear interpolation in time (the ends by the nearest
    value; a channel with no value at all by 0): what the model reads; the targets keep their NaN.

    Examples:
        >>> filled(np.array([[np.nan], [1.0], [np.nan], [3.0], [np.nan]], "float32")).ravel().tolist()
        [1.0, 1.0, 2.0, 3.0, 3.0]
    """
    if not len(values) or not np.isnan(values).any():
        return np.asarray(values, np.float32)
    frame = pd.DataFrame(values).interpolate(limit_direction="both")
    return frame.fillna(0.0).to_numpy(np.float32)


def channels(series):
    """A `data.Series` -> (what the model reads (steps, targets + past + known), filled; the targets with
    gaps; the known covariates, filled)."""
    known = filled(series.known)
    return filled(np.concatenate([series.values, series.past, series.known], axis=1)), series.values, known


def cut(series_list, lookback, horizon, spans, known_width=0):
    """The `Windows` of every series for one part: `spans[i]` = (start, end) of the steps scored in series i.

    Examples:
        >>> from tasks.forecasting.data import Series
        >>> empty = np.zeros((6, 0), "float32")
        >>> one = Series("a", np.arange(6, dtype="float32")[:, None], empty, empty)
        >>> w = cut([one], lookback=2, horizon=2, spans=[(4, 6)])
        >>> w.origins.tolist(), w.targets[:, :, 0].tolist()
        ([3, 4, 5], [[nan, 4.0], [4.0, 5.0], [5.0, nan]])
    """
    parts = []
    for i, (series, (start, end)) in enumerate(zip(series_list, spans)):
        inputs, values, known = channels(series)
        origins = np.arange(max(lookback, start - horizon + 1), end)
        if not len(origins):
            continue
        steps = origins[:, None] + np.arange(horizon)[None, :]
        history = inputs[origins[:, None] + np.arange(-lookback, 0)[None, :]]
        inside = (steps >= start) & (steps < end)
        clipped = np.minimum(steps, len(values) - 1)
        targets = np.where(inside[..., None], values[clipped], np.nan).astype(np.float32)
        future = np.where((steps < len(known))[..., None], known[clipped], 0.0) if known_width else None
        parts.append((history, future, targets, np.full(len(origins), i), origins))
    if not parts:
        return Windows(np.zeros((0, lookback, 0), np.float32), np.zeros((0, horizon, known_width), np.float32),
                       np.zeros((0, horizon, 0), np.float32), np.zeros(0, int), np.zeros(0, int))  # fmt: skip
    history, future, targets, series, origins = (list(p) for p in zip(*parts))
    future = np.concatenate(future) if known_width else np.zeros((sum(map(len, targets)), horizon, 0), np.float32)
    return Windows(np.concatenate(history), future.astype(np.float32), np.concatenate(targets),
                   np.concatenate(series), np.concatenate(origins))  # fmt: skip


def spans(length, horizon, validation_split, test_split):
    """(train end, validation end) steps of a series of `length`: validation and test take their fraction of
    the steps, at least `horizon` each (test none when `test_split` is 0).

    Examples:
        >>> spans(144, 24, 0.1, 0.2)
        (91, 115)
        >>> spans(120, 24, 0.2, 0.0)
        (96, 120)
    """
    test = max(horizon, round(test_split * length)) if test_split else 0
    validation = max(horizon, round(validation_split * length))
    return length - test - validation, length - test


def choose_lookback(season, horizon, train_steps):
    """Steps a forecast reads: one season, at least 12 steps (`horizon` does not enter), cut to half the
    training span.

    Measured with DLinear, three seeds: airline (120 months, horizon 24) MAPE 5.0% reading 12 months, 6.8%
    reading 24; sunspots (279 years, horizon 30) MAE 26.1 reading 12 years, 24.6 reading 9, 29.6 reading 16,
    32.1 reading 30 (benchmarks/RESULTS.md).

    Examples:
        >>> choose_lookback(12, 24, 96), choose_lookback(1, 30, 279), choose_lookback(24, 3, 40)
        (12, 12, 20)
    """
    return int(max(2, min(max(season, 12), train_steps // 2)))


def backtest_spans(length, horizon, folds, lookback):
    """(start, end) of the span a rolling-origin backtest scores: the last `folds` origins spaced `horizon`
    apart, each forecasting a whole horizon; fewer folds when the series is too short (None: not one)."""
    for k in range(folds, 0, -1):
        start = length - k * horizon
        if start >= lookback:
            return start, length, k
    return None


def seasonal_naive(history, targets_width, season, horizon):
    """The seasonal-naive forecast of each window: the value one season before each step (the last value
    when there is no season), read from the window's own history (its first `targets_width` channels)."""
    lookback = history.shape[1]
    season = min(season, lookback)
    steps = lookback - season + (np.arange(horizon) % season)
    return history[:, steps, :targets_width]


def scale_of(values, season):
    """MASE's scale of one series' training steps: the mean absolute seasonal difference (per target)."""
    season = season if len(values) > season else 1
    differences = np.abs(values[season:] - values[:-season])
    with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as quiet:
        quiet.filter(RuntimeWarning)
        scale = np.nanmean(differences, axis=0)
    return np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)


def scores(predicted, targets, scale=None, lower=None, upper=None):
    """MAE, RMSE, MAPE, sMAPE (percent), MASE and interval coverage over the scored steps (targets not NaN),
    with the MAE at each horizon step.

    Args:
        predicted: (n, horizon, targets) point forecasts.
        targets: (n, horizon, targets), NaN where not scored.
        scale: (n, targets) MASE scale of each window's series, or None.
        lower, upper: (n, horizon, targets) interval bounds, or None.

    Examples:
        >>> s = scores(np.array([[[2.0], [4.0]]]), np.array([[[1.0], [np.nan]]]))
        >>> s["mae"], s["mape"], s["mae_by_step"]
        (1.0, 100.0, [1.0, None])
    """
    seen = ~np.isnan(targets)
    if not seen.any():
        raise ToolkitError(
            "No value to score: every target step of these windows is missing.",
            expected="series with values after their first lookback steps",
            fix="pass a longer series, or a shorter horizon / lookback",
        )
    error = np.where(seen, predicted - targets, 0.0)
    absolute = np.abs(error)
    out = {
        "mae": float(absolute[seen].mean()),
        "rmse": float(np.sqrt((error[seen] ** 2).mean())),
    }
    nonzero = seen & (targets != 0)
    out["mape"] = float(100 * (absolute[nonzero] / np.abs(targets[nonzero])).mean()) if nonzero.any() else None
    both = np.abs(predicted) + np.abs(targets)
    pairs = seen & (both > 0)
    out["smape"] = float(200 * (absolute[pairs] / both[pairs]).mean()) if pairs.any() else None
    if scale is not None:
        scaled = absolute / scale[:, None, :]
        usable = seen & np.isfinite(scaled)
        out["mase"] = float(scaled[usable].mean()) if usable.any() else None
    if lower is not None:
        inside = (targets >= lower) & (targets <= upper)
        out["coverage"] = float(inside[seen].mean())
    counts = seen.sum(axis=(0, 2))
    sums = absolute.sum(axis=(0, 2))
    out["mae_by_step"] = [float(s / c) if c else None for s, c in zip(sums, counts)]
    return out
