"""Forecasting: `TimeSeriesForecaster` and `train_forecaster`."""

import warnings

import keras
import numpy as np
import pandas as pd

from tasks.forecasting import data as data_lib
from tasks.forecasting import figures
from tasks.forecasting import model as model_lib
from tasks.forecasting import windows as windows_lib
from tasks.forecasting.preprocessor import ForecastPreprocessor, Part
from toolkit import estimator
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index
from toolkit.saving import register_task
from toolkit.task import Task

# backbone="auto": an ensemble of each, the one with the lower validation loss kept. Measured (three seeds,
# five members each): airline MAPE DLinear 3.68% / GRU 8.30%, sunspots MAE DLinear 25.5 / GRU 21.8; the validation
# loss chose the better one in all six runs (benchmarks/RESULTS.md).
AUTO_BACKBONES = ("dlinear", "gru")


@register_task
class TimeSeriesForecaster(Task):
    """Forecasts the next steps of one or many series, with a prediction interval for each step.

    The model reads the last `lookback` steps and answers every step of the horizon at once (the median and
    the interval's quantiles, trained with the pinball loss); each window is scaled by its own mean and
    spread inside the model. Splits are by time: test is the last steps, validation the steps before, and
    every run also scores the seasonal-naive forecast on the same steps.

    Args:
        target: the column(s) to forecast (default: the one numeric column besides the time).
        horizon: steps to forecast (default one season: 12 for months, 7 for days; 10 without a season).
        lookback: steps the model reads (default one season, at least 12 steps: measured, see
            `windows.choose_lookback`).
        time_column: the time column (default: found by name ("date", "month", "year", ...) or by its dates).
        id_column: the column naming each series of a long table of many.
        covariates: columns known in advance (holidays, prices set ahead): the model reads them over the
            lookback and over the horizon; `forecast` then needs their future values.
        past_covariates: columns known only up to the present (read over the lookback).
        frequency: the time step as a pandas alias ("D", "W", "MS", "h"); default inferred from the times.
        season: steps in a season (default from the frequency: 12 for months, 7 for days, 1 for years).
        interval: the central prediction interval (0.8: the 10% and 90% quantiles).
        backbone: "auto" (default: a DLinear and a GRU ensemble trained side by side, the one with the lower
            validation loss kept), "dlinear", "nbeats", "lstm", "gru", "tcn" or "transformer", or a
            `keras.Model` from (batch, lookback, channels) to (batch, features).
        width: units of the backbone (None: the backbone's own).
        ensemble: networks of each backbone trained side by side, each on its own loss from its own initial
            weights (a `keras.Model` backbone's members all start from copies of its weights); the model
            answers their mean (1: one network).
        backtest_folds: horizons `evaluate` backtests over, the last ones of the data.
        epochs: most epochs (early stopping may stop sooner); None: 100, raised on a short series until the
            network gets about 1,000 optimizer steps.
        learning_rate: None: 1e-2 (the small linear forecasters learn too slowly at 1e-3: airline MAPE 7.6%
            against 6.7% at 1e-2, three seeds; a known covariate's effect took far longer to learn).
        **kwargs: the arguments every task shares (batch_size, learning_rate, tune, save_dir, ...).

    Examples:
        >>> f = TimeSeriesForecaster(horizon=24).fit("airline.csv")  # doctest: +SKIP
        >>> f.forecast()[0]  # doctest: +SKIP
        {'time': '1961-01-01', 'value': 447.2, 'lower': 425.1, 'upper': 468.0}
    """

    task_name = "time-series-forecasting"
    description = "forecast the next steps of series, with prediction intervals (a table with a time column)"
    serving_input = "series"
    data_forms = data_lib.FORMS
    backbone_filters = ({"modality": "forecast"},)
    preprocessor_class = ForecastPreprocessor
    budget_epochs = 100
    floors_validation = False
    _parameter_constraints = {
        "horizon": estimator.POSITIVE_OR_NONE,
        "lookback": estimator.POSITIVE_OR_NONE,
        "season": estimator.POSITIVE_OR_NONE,
        "width": estimator.POSITIVE_OR_NONE,
        "interval": estimator.in_range(0, 1, "a fraction between 0 and 1", low_open=True, high_open=True),
        "backtest_folds": estimator.POSITIVE,
        "ensemble": estimator.POSITIVE,
    }

    def __init__(self, *, target: str | list | None = None, horizon: int | None = None, lookback: int | None = None,
                 time_column: str | None = None, id_column: str | None = None, covariates: tuple | list = (),
                 past_covariates: tuple | list = (), frequency: str | None = None, season: int | None = None,
                 interval: float = 0.8, backbone: str | keras.Model = "auto", width: int | None = None,
                 ensemble: int = 5, backtest_folds: int = 3, epochs: int | None = None, learning_rate: float | None = None,
                 **kwargs):  # fmt: skip
        super().__init__(epochs=epochs, learning_rate=learning_rate, **kwargs)
        self.target = target
        self.horizon = horizon
        self.lookback = lookback
        self.time_column = time_column
        self.id_column = id_column
        self.covariates = covariates
        self.past_covariates = past_covariates
        self.frequency = frequency
        self.season = season
        self.interval = interval
        self.backbone = backbone
        self.width = width
        self.ensemble = ensemble
        self.backtest_folds = backtest_folds

    # ------------------------------------------------------------------ data
    def _default_learning_rate(self):
        """1e-2: the small linear and dense forecasters learn slowly at 1e-3 (airline MAPE 7.6% against 6.7% at 1e-2,
        3 seeds; a known promotion's lift not yet learned after 100 epochs on two toy series, learned in 30 at 1e-2)."""
        return 1e-2

    def read_panel(self, data):
        """The user's data -> a `data.Panel` read with this task's column arguments."""
        frequency = self.frequency or getattr(getattr(self, "preprocessor_", None), "frequency", None)
        return data_lib.read_panel(data, self.target, self.time_column, self.id_column, self.covariates,
                                   self.past_covariates, frequency)  # fmt: skip

    def read_data(self, data):
        panel = self.read_panel(data)
        self._panel = panel
        if panel.inserted:
            self.say(f"{panel.inserted} missing timestamp(s) inserted; their values are filled in for the model's "
                     "inputs and never scored.")  # fmt: skip
        return Index(panel.series, [None] * len(panel.series), about=panel.about)

    def make_preprocessor(self):
        panel = self._panel
        return ForecastPreprocessor(self.horizon, self.lookback, self.season, panel.frequency, panel.targets,
                                    panel.known, panel.past)  # fmt: skip

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        splits = super().prepare_data(data, validation_data)
        p = self.preprocessor_
        self.say(
            f"Forecasting {', '.join(p.targets)} of {len(p.ids)} series, {p.horizon} steps ahead from {p.lookback} "
            f"(frequency {p.frequency or 'steps'}, season {p.season}); windows: {splits.info['train_examples']} "
            f"train / {splits.info['validation_examples']} validation / {splits.info['test_examples']} test."
        )
        return splits

    def keras_data(self, part):
        return part.dataset if isinstance(part, Part) else part

    def evaluation_data(self, data):
        """Rolling-origin backtest windows of `data`: origins `horizon` apart over its last `backtest_folds`
        horizons, each forecasting a whole horizon from all the steps before it."""
        p = self.preprocessor_
        panel = self.read_panel(data)
        series, spans, origins = [], [], []
        for s in panel.series:
            found = windows_lib.backtest_spans(len(s.values), p.horizon, self.backtest_folds, p.lookback)
            if found is None:
                continue
            start, end, folds = found
            series.append(s)
            spans.append((start, end))
            origins.append([start + k * p.horizon for k in range(folds)])
        if not series:
            raise ToolkitError(
                f"No series of {panel.about} is long enough to backtest: it needs {p.lookback + p.horizon} steps.",
                expected=f"series of at least {p.lookback + p.horizon} steps (lookback + horizon)",
                fix="pass the series with the history before the steps to score",
            )
        windows = windows_lib.cut(series, p.lookback, p.horizon, spans, len(p.known))
        keep = np.array([o in origins[i] for i, o in zip(windows.series, windows.origins)], bool)
        windows = windows_lib.Windows(*(getattr(windows, f)[keep] for f in ("history", "future", "targets", "series",
                                                                              "origins")))  # fmt: skip
        return Part(windows, None, [s.id for s in series])

    # ------------------------------------------------------------------ model
    def build_model(self):
        p = self.preprocessor_
        return model_lib.build(self.backbones(), p.lookback, p.horizon, p.channels, len(p.targets), len(p.known),
                               p.mean, p.std, self.quantiles(), self.width, self.ensemble)  # fmt: skip

    def backbones(self):
        """The backbones this fit trains ensembles of: both of "auto", or the one asked for."""
        return list(AUTO_BACKBONES) if isinstance(self.backbone, str) and self.backbone == "auto" else [self.backbone]

    def _check_backbone(self):
        if not (isinstance(self.backbone, str) and self.backbone == "auto"):
            super()._check_backbone()

    def training_model(self, model):
        return model_lib.members_model(model)

    def after_training(self, model, splits):
        """With "auto": keeps the backbone whose ensemble has the lower validation loss (said, and kept as
        `preprocessor_.chosen`)."""
        names = self.backbones()
        self.preprocessor_.chosen = names[0] if len(names) == 1 and isinstance(names[0], str) else None
        if len(names) == 1 or splits.validation is None:
            return
        windows = splits.validation.windows
        members = self._infer(windows.inputs(), model=model_lib.members_model(model))
        losses = [float(self.training_loss()(windows.targets, members[:, k * self.ensemble : (k + 1) * self.ensemble].mean(1)))
                  for k in range(len(names))]  # fmt: skip
        best = int(np.argmin(losses))
        model_lib.keep_members(model, range(best * self.ensemble, (best + 1) * self.ensemble))
        self.preprocessor_.chosen = names[best]
        self.say("Backbone: " + ", ".join(f"{n} validation loss {v:.4g}" for n, v in zip(names, losses))
                 + f"; kept {names[best]}.")  # fmt: skip

    def quantiles(self):
        return model_lib.quantiles_for(self.interval)

    def training_loss(self):
        return model_lib.PinballLoss(self.quantiles())

    def training_metrics(self):
        return [model_lib.MedianError(1)]

    def score(self, part):
        """The pinball loss, MAE, RMSE, MAPE, sMAPE, MASE, interval coverage and the MAE by horizon step of a
        part's windows."""
        windows = part.windows
        if not len(windows) or np.isnan(windows.targets).all():
            return None
        out = self._infer(windows.inputs())
        loss = float(self.training_loss()(windows.targets, out))
        return {"loss": loss, **windows_lib.scores(out[..., 1], windows.targets, self.preprocessor_.scale(windows, part.ids),
                                                   out[..., 0], out[..., 2])}  # fmt: skip

    def evaluate(self, data):
        """Rolling-origin backtest on `data` (the series with the steps to score at their end): the scores of
        `score` and, under "seasonal_naive", the seasonal-naive forecast's on the same steps."""
        self.check_fitted()
        part = self.evaluation_data(data)
        with self.data_errors():
            scores = self.score(part)
        scores["seasonal_naive"] = self._naive_scores(part)
        scores["origins"] = len(part.windows)
        return scores

    def _naive_scores(self, part):
        p, windows = self.preprocessor_, part.windows
        naive = windows_lib.seasonal_naive(windows.history, len(p.targets), p.season, p.horizon)
        found = windows_lib.scores(naive, windows.targets, p.scale(windows, part.ids))
        return {k: v for k, v in found.items() if k != "mae_by_step"}

    def compare_with_baseline(self):
        """The seasonal-naive forecast on the same windows (metrics_["reference"]), and whether the run beats it
        on MAE (metrics_["baseline"]; a warning when it does not)."""
        parts = self.preprocessor_.parts or {}
        reference = {"name": f"seasonal naive (season {self.preprocessor_.season})"}
        for name in ("validation", "test"):
            if parts.get(name) is not None and self.metrics_.get(name):
                reference[name] = self._naive_scores(self.preprocessor_.dataset(parts[name]))
        self.metrics_["reference"] = reference
        part, scores = self._judged_part()
        if not scores or part not in reference:
            return
        better = scores["mae"] < reference[part]["mae"]
        self.metrics_["baseline"] = {"part": part, "metric": "mae", "value": scores["mae"],
                                     "seasonal_naive_mae": reference[part]["mae"], "better_than_seasonal_naive": better}  # fmt: skip
        if not better:
            warnings.warn(
                f"This run is no better than repeating the last season: {part} MAE {scores['mae']:.4g} against "
                f"{reference[part]['mae']:.4g}. Try another backbone, lookback= or more epochs.",
                stacklevel=4,
            )

    # ------------------------------------------------------------------ answer
    def predict(self, inputs):
        """Forecasts from histories: one series' values ((steps,) or (steps, channels)) or a list of them.

        Returns:
            Per history, one dict per step ahead: {"step", "value", "lower", "upper"} (with several targets,
            each a {target: number} dict).
        """
        self.check_fitted()
        channels = self.preprocessor_.channels
        if isinstance(inputs, np.ndarray) and inputs.dtype != object:
            one = inputs.ndim == 1 or (inputs.ndim == 2 and channels > 1 and inputs.shape[1] == channels)
        else:
            one = isinstance(inputs, (list, tuple)) and all(v is None or np.isscalar(v) for v in inputs)
        histories = [_numbers(h) for h in ([inputs] if one else list(inputs))]
        if self.preprocessor_.known:
            raise ToolkitError(
                "This forecaster reads known covariates; predict cannot know their future values.",
                expected="forecast(history=..., covariates=...) with the covariates over the horizon",
                fix="call forecast with covariates=",
            )
        out = self._infer(self.preprocessor_.history_inputs(histories))
        return [self._steps(o, [None] * len(o)) for o in out]

    def forecast(self, history=None, horizon=None, covariates=None):
        """Forecasts the steps after the data's end (or after `history`'s).

        Args:
            history: None (continue the training data), or data in a form `fit` takes: each series' recent
                steps (at least `lookback` of them).
            horizon: steps to forecast (default the trained horizon; longer ones feed the forecasts back).
            covariates: with known covariates, their values over the horizon: a table with the time (and id)
                column, or an array (steps, covariates).

        Returns:
            One dict per step {"time", "value", "lower", "upper"}; a list of them per series when there are
            several.
        """
        self.check_fitted()
        p = self.preprocessor_
        horizon = horizon or p.horizon
        if history is None:
            ids, tails, ends = p.ids, [np.asarray(t, np.float32) for t in p.tails], p.ends
        else:
            panel = self.read_panel(history)
            ids = [s.id for s in panel.series]
            tails = [windows_lib.channels(s)[0] for s in panel.series]
            ends = [str(s.times[-1]) if s.times is not None else len(s.values) - 1 for s in panel.series]
        futures = self._futures(covariates, ids, ends, horizon)
        outputs = []
        done = 0
        while done < horizon:  # longer than trained: each pass continues from the last one's medians
            future = None if futures is None else futures[:, done : done + p.horizon]
            out = self._infer(p.history_inputs(tails, future))
            outputs.append(out)
            done += p.horizon
            if done < horizon:
                if p.past:
                    raise ToolkitError(
                        f"A horizon of {horizon} steps with past covariates: the model was trained for {p.horizon}.",
                        expected=f"horizon <= {p.horizon} (past covariates are unknown beyond it)",
                        fix=f"pass horizon={p.horizon} or less, or train with horizon={horizon}",
                    )
                medians = out[..., 1]
                extra = np.zeros((len(tails), p.horizon, p.channels - len(p.targets)), np.float32)
                if futures is not None:
                    extra = futures[:, done - p.horizon : done]
                tails = [np.concatenate([t, np.concatenate([m, e], axis=1)]) for t, m, e in zip(tails, medians, extra)]
        out = np.concatenate(outputs, axis=1)[:, :horizon]
        answers = [self._steps(o, self._times(end, len(o))) for o, end in zip(out, ends)]
        return answers[0] if len(answers) == 1 else answers

    def _futures(self, covariates, ids, ends, horizon):
        p = self.preprocessor_
        if not p.known:
            return None
        if covariates is None:
            raise ToolkitError(
                f"This forecaster reads the known covariates {p.known} over the horizon.",
                expected=f"covariates= with their values for the {horizon} steps to forecast",
                fix="pass covariates= (a table with the time column, or an array (steps, covariates))",
            )
        if isinstance(covariates, (np.ndarray, list)):
            array = np.asarray(covariates, np.float32).reshape(-1, len(p.known))
            arrays = [array] * len(ids)
        else:
            frame = data_lib.read_table(covariates) if not isinstance(covariates, pd.DataFrame) else covariates.copy()
            arrays = []
            for i in ids:
                rows = frame if not self.id_column else frame[frame[self.id_column].astype(str) == i]
                arrays.append(rows[p.known].to_numpy(np.float32))
        short = min(len(a) for a in arrays)
        steps = -(-horizon // p.horizon) * p.horizon
        if short < horizon:
            raise ToolkitError(f"covariates= covers {short} steps.", expected=f"{horizon} steps (the horizon)",
                               fix="pass the covariates for every step to forecast")  # fmt: skip
        return np.stack([np.pad(a[:steps], ((0, max(0, steps - len(a))), (0, 0)), mode="edge") for a in arrays])

    def _times(self, end, steps):
        frequency = self.preprocessor_.frequency
        if isinstance(end, str) and frequency:
            times = pd.date_range(pd.Timestamp(end), periods=steps + 1, freq=frequency)[1:]
            return [t.isoformat() if t != t.normalize() else str(t.date()) for t in times]
        return [int(end) + k for k in range(1, steps + 1)]

    def _steps(self, out, times):
        targets = self.preprocessor_.targets
        answers = []
        for k, step in enumerate(out):
            if len(targets) == 1:
                values = {"value": float(step[0, 1]), "lower": float(step[0, 0]), "upper": float(step[0, 2])}
            else:
                values = {key: {t: float(step[j, q]) for j, t in enumerate(targets)}
                          for key, q in (("value", 1), ("lower", 0), ("upper", 2))}  # fmt: skip
            answers.append({("time" if times[k] is not None else "step"): times[k] if times[k] is not None else k + 1,
                            **values})  # fmt: skip
        return answers

    def read_inputs(self, paths):
        """(a name per series, its history) of the files given to `toolkit predict`."""
        names, histories = [], []
        for path in paths:
            for s in self.read_panel(path).series:
                names.append(f"{path}:{s.id}")
                histories.append(windows_lib.channels(s)[0])
        return names, histories

    def export_examples(self, part):
        windows = part.windows
        targets = windows.targets[:32]
        return {k: v[:32] for k, v in windows.inputs().items()}, targets

    def report_figures(self):
        return figures.error_by_step(self.metrics_)

    def report_data_figures(self, part):
        return figures.forecast_figures(self, part)

    def search_space(self, hp):
        space = super().search_space(hp)
        if isinstance(self.backbone, str):
            space["backbone"] = hp.Choice("backbone", ["auto"] + self.accepted_backbones())
        return space


def _numbers(history):
    """One history (a list of numbers, None where missing, or of one list of channel values a step) as floats."""
    try:
        values = np.array(history, dtype=np.float64)
    except (ValueError, TypeError):
        values = None
    if values is None or values.ndim not in (1, 2) or not values.size:
        raise ToolkitError(
            f"A history given as {str(history)[:60]!r} is not a series of numbers.",
            expected="a list of numbers (null / None where missing), or of one list of channel values a step",
            fix="send each history as its values in time order",
        )
    return values.astype(np.float32)


def train_forecaster(data=None, validation_data=None, **kwargs):
    """Trains a forecaster in one line and returns the fitted `TimeSeriesForecaster`.

    Args:
        data: a table with a time column (a CSV / Parquet / JSON Lines file, a DataFrame, a dict of columns),
            or an array of values a step.
        validation_data: the steps after `data`'s end (same form); default the last steps of `data`.
        **kwargs: `TimeSeriesForecaster` arguments (target, horizon, backbone, ...).

    Returns:
        The fitted `TimeSeriesForecaster`; its run is in `forecaster.run_dir`.

    Examples:
        >>> import tempfile
        >>> months = [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(96)]
        >>> sales = [100 + i + 10 * np.sin(i * np.pi / 6) for i in range(96)]
        >>> f = train_forecaster({"month": months, "sales": sales}, horizon=6, epochs=30, ensemble=1, save_dir=tempfile.mkdtemp(),
        ...                      verbose=0)
        >>> steps = f.forecast()
        >>> len(steps), steps[0]["time"], steps[0]["lower"] <= steps[0]["value"] <= steps[0]["upper"]
        (6, '2008-01-01', True)
    """
    return TimeSeriesForecaster(**kwargs).fit(data, validation_data)
