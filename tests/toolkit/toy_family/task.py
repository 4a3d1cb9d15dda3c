"""The toy family's task: declarations and the hooks the core calls, nothing else."""

import numpy as np

from tests.toolkit.toy_family import data, model
from tests.toolkit.toy_family.preprocessor import TablePreprocessor
from toolkit import estimator
from toolkit.metrics import classification_metrics
from toolkit.saving import register_task
from toolkit.task import Task


@register_task
class TableClassifier(Task):
    """Classifies rows of numbers (a CSV file with a label column, or (rows, labels) arrays).

    Args:
        width: units of the hidden layer.
        label_column: the CSV column that holds each row's label.
        epochs: most epochs to train; None: about 1,000 optimizer steps on a small table.
        **kwargs: the arguments every task shares (`toolkit.estimator.BaseTask`).
    """

    task_name = "toy-table-classification"
    description = "classify rows of numbers (the worked example of a new family)"
    preprocessor_class = TablePreprocessor
    monitor, monitor_mode = "val_accuracy", "max"
    serving_input = "texts"  # each text is a row: comma-separated numbers
    data_forms = "a CSV file with a header row, numeric columns and a label column, or (rows, labels) arrays"
    _parameter_constraints = {"width": estimator.POSITIVE}

    def __init__(self, *, width: int = 32, label_column: str = "label", epochs: int | None = None, **kwargs):
        super().__init__(epochs=epochs, **kwargs)
        self.width = width
        self.label_column = label_column

    def read_data(self, source):
        return data.read_table(source, self.label_column)

    def make_preprocessor(self):
        return TablePreprocessor()

    def build_model(self):
        return model.build(len(self.preprocessor_.mean), len(self.preprocessor_.classes), self.width)

    def training_loss(self):
        return "sparse_categorical_crossentropy"

    def training_metrics(self):
        return ["accuracy"]

    def score(self, dataset):
        labels = np.concatenate([y for _, y in dataset.as_numpy_iterator()])
        probabilities = self.model_.predict(dataset, verbose=0)
        return classification_metrics(labels, probabilities, self.preprocessor_.classes)

    def predict(self, inputs):
        rows = [[float(v) for v in row.split(",")] if isinstance(row, str) else row for row in inputs]
        probabilities = self.model_.predict(self.preprocessor_.inputs(rows), verbose=0)
        return [self.preprocessor_.classes[i] for i in np.argmax(probabilities, axis=1)]


def train_table_classifier(data=None, validation_data=None, **kwargs):
    return TableClassifier(**kwargs).fit(data, validation_data)
