"""What every classification task shares: loss, Keras metrics, scores and predictions in class names."""

import os

import keras

from toolkit import estimator
from toolkit.errors import ToolkitError
from toolkit.metrics import classification_metrics


@keras.saving.register_keras_serializable(package="toolkit")
class SparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of class indices against probabilities, with label smoothing.

    Keras' `SparseCategoricalCrossentropy` has no `label_smoothing`; this
    one-hot encodes the indices and uses `keras.losses.categorical_crossentropy`,
    which has.

    Examples:
        >>> import numpy as np
        >>> loss = SparseCrossentropy(label_smoothing=0.1)
        >>> round(float(loss(np.array([1]), np.array([[0.1, 0.9]]))), 4)  # -(0.05 log 0.1 + 0.95 log 0.9)
        0.2152
    """

    def __init__(self, label_smoothing=0.0, name="sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        indices = keras.ops.cast(keras.ops.reshape(y_true, keras.ops.shape(y_pred)[:-1]), "int32")
        one_hot = keras.ops.one_hot(indices, keras.ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class ClassifierMixin:
    """Mixed into `Task` subclasses whose model ends in a softmax over `classes_`.

    Adds the arguments every classifier shares (see `__init__`).

    Examples:
        >>> import numpy as np
        >>> class Toy(ClassifierMixin):
        ...     classes_ = ["cat", "dog"]
        >>> Toy()._answers(np.array([[0.2, 0.8]]))
        [{'label': 'dog', 'probability': 0.8, 'probabilities': {'cat': 0.2, 'dog': 0.8}}]
    """

    _parameter_constraints = {
        "label_smoothing": estimator.in_range(0, 1, "a fraction from 0 up to (not including) 1"),
        "temperature": estimator.above(0),
        "alpha": estimator.in_range(0, 1, "a fraction from 0 to 1", high_open=False),
    }

    def __init__(
        self,
        *,
        label_smoothing: float = 0.0,
        teacher: str | os.PathLike | keras.Model | None = None,
        temperature: float = 4.0,
        alpha: float = 0.5,
        **kwargs,
    ):
        """Args:
        label_smoothing: share of each target spread over the other classes (0: none; 0.1 is
            the usual choice against over-confident models).
        teacher: knowledge distillation: a finished run folder of the same task and classes, or
            a `keras.Model` giving class probabilities for the same inputs; the model then learns
            from the teacher's softened outputs as well as the labels (see `toolkit.distillation`).
        temperature: how much the distillation softens both models' outputs (T; 1: not at all).
        alpha: weight of the label loss; the teacher's term gets 1 - alpha.
        **kwargs: the task's and `toolkit.Task`'s arguments.
        """
        super().__init__(**kwargs)
        self.label_smoothing = label_smoothing
        self.teacher = teacher
        self.temperature = temperature
        self.alpha = alpha

    def training_model(self, model):
        """With a teacher, the `Distiller` around `model` (one per model, so every phase trains the same one)."""
        if self.teacher is None:
            return model
        from toolkit.distillation import Distiller, load_teacher

        cached = getattr(self, "_distiller", None)
        if cached is None or cached.student is not model:
            teacher = load_teacher(self.teacher, self.classes_, self.task_name)
            self._distiller = Distiller(model, teacher, temperature=self.temperature, alpha=self.alpha)
        return self._distiller

    def _check_combinations(self):
        super()._check_combinations()
        if isinstance(self.teacher, (str, os.PathLike)) and not (
            os.path.exists(os.path.join(self.teacher, "config.json"))
            and os.path.exists(os.path.join(self.teacher, "model.keras"))
        ):
            raise ToolkitError(
                f"teacher={str(self.teacher)!r} is not a finished run folder (it lacks config.json or model.keras).",
                expected="the run_dir of a fitted classifier of the same task, or a keras.Model",
                fix="pass clf.run_dir of a finished run",
            )

    def training_loss(self):
        if self.label_smoothing:
            return SparseCrossentropy(label_smoothing=self.label_smoothing)
        return keras.losses.SparseCategoricalCrossentropy()

    def search_space(self, hp):
        space = super().search_space(hp)
        space["label_smoothing"] = hp.Choice("label_smoothing", [0.0, 0.1])
        return space

    def training_metrics(self):
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if len(self.classes_) > 5:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top_5_accuracy"))
        return metrics

    def report_figures(self):
        """The confusion matrix and per-class precision / recall / F1 of the test split (else validation)."""
        from toolkit import figures

        scores = (self.metrics_ or {}).get("test") or (self.metrics_ or {}).get("validation") or {}
        split = "test" if (self.metrics_ or {}).get("test") else "validation"
        drawn = []
        if scores.get("confusion_matrix") is not None:
            drawn.append(
                (f"Confusion matrix ({split})", figures.confusion_figure(scores["confusion_matrix"], self.classes_))
            )
        if scores.get("per_class"):
            drawn.append(
                (f"Per-class precision, recall and F1 ({split})", figures.per_class_figure(scores["per_class"]))
            )
        return drawn

    def score(self, dataset):
        probabilities, labels = self._inference_function(self.model_).over(dataset)
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
