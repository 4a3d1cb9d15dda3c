"""A toy family built only on the core's public hooks (the worked example of docs/guides/new-family.md).

Four small files: `data.py` reads the user's forms into an `Index`, `preprocessor.py` learns what the
model needs from the training part, `model.py` builds the Keras model, `task.py` declares the task.
"""

from tests.toolkit.toy_family.task import TableClassifier, train_table_classifier

__all__ = ["TableClassifier", "train_table_classifier"]
