"""Tables: classification and regression of a table's rows, beside a gradient-boosting reference."""

from tasks.tables.classifier import TabularClassifier, train_tabular_classifier
from tasks.tables.regressor import TabularRegressor, train_tabular_regressor

__all__ = ["TabularClassifier", "TabularRegressor", "train_tabular_classifier", "train_tabular_regressor"]
