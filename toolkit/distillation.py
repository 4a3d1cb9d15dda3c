"""Knowledge distillation: a student learns from a teacher's softened outputs and the labels.

The Keras `Distiller` pattern (keras.io, "Knowledge Distillation"): a
`keras.Model` wrapping student and teacher whose `compute_loss` mixes the
usual loss on the labels with the KL divergence between the two models'
temperature-softened outputs, scaled by T² (Hinton et al., 2015). The
wrapper is what the trainer fits; the student is what the run saves.
"""

import keras

from toolkit.errors import ToolkitError

# Far below float32 softmax outputs of a confident teacher: a larger floor would flatten the small
# probabilities of the wrong classes, the "dark knowledge" distillation transfers.
_EPSILON = 1e-30


@keras.saving.register_keras_serializable(package="toolkit")
class Distiller(keras.Model):
    """Trains `student` on `alpha` x the label loss + (1 - alpha) x T² x KL(teacher_T || student_T).

    Both models output class probabilities; their softened forms are
    softmax(log p / T). The teacher is frozen and runs in inference mode.

    Examples:
        >>> import numpy as np
        >>> student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> distiller = Distiller(student, teacher, temperature=2.0, alpha=0.5)
        >>> distiller.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy())
        >>> float(distiller.train_on_batch(np.ones((2, 4)), np.array([0, 1]))) > 0
        True
    """

    def __init__(self, student, teacher, temperature=4.0, alpha=0.5, **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        # Both networks come built; so is the wrapper (BackupAndRestore needs a built model before fit).
        self.built = student.built and teacher.built

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def _teacher_inputs(self, x):
        """A KerasHub task (a fine-tuned text classifier) preprocesses in its data pipeline, not in
        `call`: its preprocessor turns the student's raw inputs (strings) into the teacher's token ids."""
        preprocessor = getattr(self.teacher, "preprocessor", None)
        return x if preprocessor is None else preprocessor(x)

    def _soften(self, probabilities):
        logits = keras.ops.log(keras.ops.clip(keras.ops.cast(probabilities, "float32"), _EPSILON, 1.0))
        return keras.ops.softmax(logits / self.temperature, axis=-1)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        hard = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        taught = self.teacher(self._teacher_inputs(x), training=False)
        soft = keras.losses.KLDivergence()(self._soften(taught), self._soften(y_pred))
        return self.alpha * hard + (1 - self.alpha) * soft * self.temperature**2

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        student = keras.saving.deserialize_keras_object(config.pop("student"))
        teacher = keras.saving.deserialize_keras_object(config.pop("teacher"))
        return cls(student, teacher, **config)


def load_teacher(teacher, classes, task_name):
    """The teacher's `keras.Model`: from a run folder (checked to be a classifier of the same classes) or as given.

    Examples:
        >>> load_teacher("no/such/run", ["a", "b"], "image-classification")
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: 'no/such/run' is not a finished run directory (it lacks config.json or model.keras).
        ...
    """
    if isinstance(teacher, keras.Model):
        model = teacher
    else:
        from toolkit.saving import load

        run = load(teacher)
        if run.task_name != task_name:
            raise ToolkitError(
                f"The teacher run '{teacher}' is a {run.task_name} run, not {task_name}.",
                expected=f"a finished {task_name} run folder, or a keras.Model",
                fix="pass a run of the same task as teacher=",
            )
        if list(getattr(run, "classes_", [])) != list(classes):
            raise ToolkitError(
                f"The teacher run '{teacher}' knows the classes {list(run.classes_)[:10]}, the data {list(classes)[:10]}.",
                expected="a teacher trained on the same classes",
                fix="train the teacher on the same data's classes",
            )
        model = run.model_
    width = model.output_shape[-1] if isinstance(model.output_shape, tuple) else None
    if width != len(classes):
        raise ToolkitError(
            f"The teacher model outputs {model.output_shape}, but the data has {len(classes)} classes.",
            expected=f"a model giving {len(classes)} class probabilities for the task's inputs",
            fix="pass a teacher trained on the same classes",
        )
    return model
