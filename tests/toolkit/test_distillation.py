"""Knowledge distillation: the student learns from the teacher's outputs, as much as alpha says."""

import keras
import pytest

import toolkit
from tasks import ImageClassifier
from tasks.image_classification.data import digits


class _Constant(keras.layers.Layer):
    """Always the same class probabilities, whatever the image."""

    def call(self, images):
        row = keras.ops.convert_to_tensor([0.02] * 3 + [0.82] + [0.02] * 6)
        return keras.ops.tile(row[None], (keras.ops.shape(images)[0], 1))


def _stubborn_teacher():
    """A teacher that always says "3": learning from it alone, a student forgets the labels."""
    inputs = keras.Input((None, None, 1))
    return keras.Model(inputs, _Constant()(inputs))


@pytest.fixture(scope="module")
def digit_data():
    x, y, _ = digits()
    return x[:600], y[:600]


def test_student_follows_the_teacher_as_far_as_alpha_says(digit_data, tmp_path):
    settings = dict(backbone="mlp", epochs=6, patience=20, verbose=0, save_dir=str(tmp_path), test_split=0.3)
    taught = ImageClassifier(teacher=_stubborn_teacher(), alpha=0.0, temperature=1.0, **settings).fit(digit_data)
    answers = [p["label"] for p in taught.predict(digit_data[0][:100])]
    assert answers.count("3") > 90  # it learned the teacher, not the labels
    labelled = ImageClassifier(teacher=_stubborn_teacher(), alpha=1.0, **settings).fit(digit_data)
    assert labelled.metrics_["test"]["accuracy"] > 0.8  # alpha=1: labels only (chance 0.1)
    # The run saves the student alone: it loads and predicts without the teacher.
    loaded = toolkit.load(taught.run_dir)
    assert loaded.model_.count_params() == taught.model_.count_params()
    assert [p["label"] for p in loaded.predict(digit_data[0][:5])] == answers[:5]


def test_teacher_from_a_run_folder_and_its_checks(digit_data, tmp_path):
    settings = dict(epochs=2, verbose=0, save_dir=str(tmp_path), test_split=0.3)
    teacher = ImageClassifier(backbone="lenet", **settings).fit(digit_data)
    student = ImageClassifier(backbone="mlp", teacher=teacher.run_dir, **settings).fit(digit_data)
    assert student.metrics_["test"]["accuracy"] > 0.5
    with pytest.raises(toolkit.ToolkitError, match="is not a finished run folder"):
        ImageClassifier(backbone="mlp", teacher=str(tmp_path / "nope"), **settings).fit(digit_data)
    x, y = digit_data
    odd = [label for label in y if int(label) % 2]
    only_odd = (x[[int(label) % 2 == 1 for label in y]], odd)
    with pytest.raises(toolkit.ToolkitError, match="knows the classes"):
        ImageClassifier(backbone="mlp", teacher=teacher.run_dir, **settings).fit(only_odd)
    with pytest.raises(toolkit.ToolkitError, match="alpha=1.5"):
        ImageClassifier(backbone="mlp", teacher=teacher.run_dir, alpha=1.5, **settings).fit(digit_data)
