"""Table regression: `TabularRegressor` and `train_tabular_regressor`."""

import warnings

import numpy as np
import pandas as pd

from tasks.tables import columns as columns_lib
from tasks.tables import figures as table_figures
from tasks.tables import model as model_lib
from tasks.tables import reference
from tasks.tables.table_task import TableTask
from toolkit import estimator
from toolkit.errors import ToolkitError
from toolkit.saving import register_task


@register_task
class TabularRegressor(TableTask):
    """Predicts a number for each row of a table.

    The network learns the standardised target (log(1 + target) with `log_target=True`) and the
    saved model answers in the target's own units.

    The table arguments (target, backbone, width, depth, dropout, columns, drop, column_types,
    data_dir, stream, epochs) are described on `tasks.tables.table_task.TableTask`.

    Args:
        loss: "mse" (default), "mae", "huber" or "log_cosh", on the standardised target.
        log_target: learn log(1 + target): for positive targets spread over orders of magnitude (prices).
        **kwargs: the arguments every task shares (batch_size, learning_rate, tune, save_dir, ...).

    Examples:
        >>> reg = TabularRegressor(target="body_mass_g").fit("penguins.csv")  # doctest: +SKIP
        >>> reg.predict([{"species": "Gentoo", "flipper_length_mm": 220}])  # doctest: +SKIP
        [{'value': 5412.3}]
    """

    task_name = "tabular-regression"
    description = "predict a number for each row of a table (CSV, Parquet, JSON, a DataFrame)"
    kind = "regression"
    headline = ("mae", "min")
    _parameter_constraints = {"loss": estimator.one_of(list(model_lib.LOSSES))}

    def __init__(self, *, loss: str = "mse", log_target: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.loss = loss
        self.log_target = log_target

    def check_targets(self, targets):
        numbers = columns_lib.as_numbers(targets)
        if numbers is None:
            bad = next(v for v in targets if columns_lib.as_numbers(pd.Series([v])) is None)
            raise ToolkitError(
                f"The target column {self.target!r} holds {bad!r}, which is not a number.",
                expected="numbers in the target column of a regression",
                fix="predict classes with TabularClassifier (toolkit train tabular-classification), or fix the value",
            )
        if len(np.unique(numbers)) < 2:
            raise ToolkitError(
                f"The target column {self.target!r} has a single value ({numbers[0]:g}).",
                expected="a target that varies between rows",
                fix="check the target column",
            )
        if self.log_target and numbers.min() < 0:
            raise ToolkitError(
                f"log_target=True needs targets of 0 or more; {self.target!r} goes down to {numbers.min():g}.",
                expected="non-negative targets for a log target",
                fix="pass log_target=False",
            )
        return numbers.astype(np.float32), None

    def _preprocessor_options(self):
        return {"log_target": self.log_target}

    def _head(self):
        p = self.preprocessor_
        return 1, (p.target_mean, p.target_std, self.log_target)

    def training_loss(self):
        p = self.preprocessor_
        return model_lib.ScaledLoss(self.loss, p.target_mean, p.target_std, self.log_target)

    def training_metrics(self):
        import keras

        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def score(self, dataset):
        predicted, truth = self._inference_function(self.model_).over(dataset)
        loss = float(self.training_loss()(truth, predicted))
        return reference.regression_scores(truth, predicted, loss=loss)

    def _answers(self, values):
        return [{"value": float(v)} for v in np.asarray(values).reshape(-1)]

    def search_space(self, hp):
        space = super().search_space(hp)
        space["loss"] = hp.Choice("loss", ["mse", "huber"])
        return space

    def compare_with_trivial(self):
        part, scores = self._judged_part()
        trivial = (self.metrics_.get("trivial") or {}).get(part)
        if not scores or not trivial:
            return
        better = scores["mae"] < trivial["mae"]
        self.metrics_["baseline"] = {"part": part, "metric": "mae", "value": scores["mae"],
                                     "mean_prediction_mae": trivial["mae"], "better_than_mean": better}  # fmt: skip
        if not better:
            warnings.warn(
                f"This run is no better than always answering the training mean: {part} MAE {scores['mae']:.4g} "
                f"against {trivial['mae']:.4g}. Try more epochs, another learning rate (toolkit lr-find "
                f"{self.task_name}), or check that the features relate to the target.",
                stacklevel=4,
            )

    def report_data_figures(self, part):
        predicted, truth = self._inference_function(self.model_).over(part)
        return [
            ("Predicted against true values (held out)", table_figures.predicted_figure(truth, predicted, self.target))
        ]


def train_tabular_regressor(data=None, validation_data=None, **kwargs):
    """Trains a table regressor in one line and returns the fitted `TabularRegressor`.

    Args:
        data: a CSV / TSV / Parquet / JSON Lines / JSON records file, a DataFrame, a dict of columns,
            a list of row dicts or "tfds:NAME".
        validation_data: same forms; default a seeded split of `data`.
        **kwargs: `TabularRegressor` arguments (target is required; loss, log_target, backbone, ...).

    Returns:
        The fitted `TabularRegressor`; its run is in `reg.run_dir`.

    Examples:
        >>> import tempfile
        >>> x = [float(i % 10) for i in range(60)]
        >>> rows = {"x": x, "colour": ["red", "blue"] * 30, "y": [2 * v + 1 for v in x]}
        >>> reg = train_tabular_regressor(rows, target="y", epochs=60, save_dir=tempfile.mkdtemp(), verbose=0)
        >>> abs(reg.predict({"x": 4.0, "colour": "red"})[0]["value"] - 9.0) < 1.5
        True
    """
    return TabularRegressor(**kwargs).fit(data, validation_data)
