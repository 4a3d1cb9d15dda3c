"""Table classification: `TabularClassifier` and `train_tabular_classifier`."""

import numpy as np

from tasks.tables import columns as columns_lib
from tasks.tables import reference
from tasks.tables.table_task import TableTask
from toolkit import estimator, preprocessing
from toolkit import metrics as metrics_lib
from toolkit.classification import ClassifierMixin
from toolkit.errors import ToolkitError
from toolkit.saving import register_task

# Whole-number targets with more distinct values than this are quantities, more likely a regression.
MOST_CLASSES = 100


@register_task
class TabularClassifier(ClassifierMixin, TableTask):
    """Predicts a named class for each row of a table.

    The saved model takes raw column values (numbers, strings, ISO dates): what was learned from the
    training part (each column's type, mean and spread, categories, words) is inside it.

    The table arguments (target, backbone, width, depth, dropout, columns, drop, column_types,
    data_dir, stream, epochs) are described on `tasks.tables.table_task.TableTask`.

    Args:
        class_weight: "balanced" weights each class's rows by its rarity (imbalanced classes).
        **kwargs: the arguments every task shares (batch_size, learning_rate, tune, save_dir, ...).

    Examples:
        >>> clf = TabularClassifier(target="species").fit("penguins.csv")  # doctest: +SKIP
        >>> clf.predict({"island": "Biscoe", "bill_length_mm": 47.5, "sex": "male"})  # doctest: +SKIP
        [{'label': 'Gentoo', 'probability': 0.98, 'probabilities': {...}}]
    """

    task_name = "tabular-classification"
    description = "classify the rows of a table (CSV, Parquet, JSON, a DataFrame) by a target column"
    kind = "classification"
    headline = ("accuracy", "max")
    _parameter_constraints = {"class_weight": estimator.one_of(["balanced"], none=True)}

    def __init__(self, *, class_weight: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.class_weight = class_weight

    def check_targets(self, targets):
        labels = [columns_lib.cell_text(v) for v in targets]
        distinct = sorted(set(labels))
        if len(distinct) < 2:
            raise ToolkitError(
                f"The target column {self.target!r} has a single value ({distinct[0]!r}).",
                expected="at least two classes in the target column",
                fix="check the target column, or add rows of the other classes",
            )
        numeric = columns_lib.as_numbers(targets) is not None
        if numeric and len(distinct) > MOST_CLASSES:
            raise ToolkitError(
                f"The target column {self.target!r} holds {len(distinct)} distinct numbers.",
                expected=f"a class per row (at most {MOST_CLASSES} distinct numbers for numeric classes)",
                fix="predict a quantity with TabularRegressor (toolkit train tabular-regression)",
            )
        position = {name: i for i, name in enumerate(distinct)}
        return np.array(labels, dtype=object), np.array([position[v] for v in labels])

    def _preprocessor_options(self):
        return {"class_weight": self.class_weight}

    classes_ = preprocessing.learned("classes")

    def _head(self):
        return len(self.classes_), None

    def score(self, dataset):
        probabilities, labels = self._inference_function(self.model_).over(dataset)
        return reference.classification_scores(labels, probabilities, self.classes_)

    def compare_with_trivial(self):
        metrics_lib.compare_with_majority(self.metrics_, self.task_name)

    def outcome_figures(self):
        return ClassifierMixin.report_figures(self)

    def report_figures(
        self,
    ):  # the table family's (ClassifierMixin's come first in the MRO; they are its outcome_figures)
        return TableTask.report_figures(self)


def train_tabular_classifier(data=None, validation_data=None, **kwargs):
    """Trains a table classifier in one line and returns the fitted `TabularClassifier`.

    Args:
        data: a CSV / TSV / Parquet / JSON Lines / JSON records file, a DataFrame, a dict of columns,
            a list of row dicts or "tfds:NAME".
        validation_data: same forms; default a seeded stratified split of `data`.
        **kwargs: `TabularClassifier` arguments (target is required; backbone, epochs, tune, ...).

    Returns:
        The fitted `TabularClassifier`; its run is in `clf.run_dir`.

    Examples:
        >>> import tempfile
        >>> rows = {"size": [1.0, 1.2, 0.9, 3.1, 2.9, 3.3] * 8, "colour": ["red", "red", "blue", "blue", "red", "blue"] * 8,
        ...         "kind": ["small", "small", "small", "large", "large", "large"] * 8}
        >>> clf = train_tabular_classifier(rows, target="kind", epochs=30, save_dir=tempfile.mkdtemp(), verbose=0)
        >>> clf.predict({"size": 3.0, "colour": "green"})[0]["label"]
        'large'
    """
    return TabularClassifier(**kwargs).fit(data, validation_data)
