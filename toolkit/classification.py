"""What every classification task shares: loss, Keras metrics, scores and predictions in class names."""

import keras
import numpy as np

from toolkit.metrics import classification_metrics


class ClassifierMixin:
    """Mixed into `Task` subclasses whose model ends in a softmax over `classes_`.

    Example:
    >>> class Toy(ClassifierMixin):
    ...     classes_ = ["cat", "dog"]
    >>> Toy()._answers(np.array([[0.2, 0.8]]))
    [{'label': 'dog', 'probability': 0.8, 'probabilities': {'cat': 0.2, 'dog': 0.8}}]
    """

    def _loss(self):
        return keras.losses.SparseCategoricalCrossentropy()

    def _metrics(self):
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if len(self.classes_) > 5:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top_5_accuracy"))
        return metrics

    def _evaluate_dataset(self, dataset):
        probabilities = self.model_.predict(dataset, verbose=0)
        labels = np.concatenate([y for _, y in dataset.as_numpy_iterator()])
        return classification_metrics(labels, probabilities, self.classes_)

    def _answers(self, probabilities):
        """Class probabilities (N, classes) -> one {"label", "probability", "probabilities"} dict per row."""
        return [
            {
                "label": self.classes_[int(p.argmax())],
                "probability": float(p.max()),
                "probabilities": {str(name): float(q) for name, q in zip(self.classes_, p)},
            }
            for p in probabilities
        ]
