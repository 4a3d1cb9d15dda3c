"""Argument types: declared for every constructor argument, checked before any work (`toolkit.params`)."""

import pytest

import toolkit
from tasks import ImageClassifier, ImageSegmenter, SpeechClassifier, SpeechRecognizer, TextClassifier
from toolkit import params


@pytest.mark.parametrize(
    "task_class, kwargs, message",
    [
        (ImageClassifier, {"learning_rate": "x"}, "got learning_rate='x' \\(a str\\)"),
        (ImageClassifier, {"width": 2.5}, "got width=2.5"),
        (TextClassifier, {"columns": "text"}, "got columns='text'"),
        (SpeechClassifier, {"sample_rate": "8k"}, "got sample_rate='8k'"),
        (SpeechRecognizer, {"augment": "noise"}, "got augment='noise'"),
        (ImageSegmenter, {"depth": "4"}, "got depth='4'"),
    ],
)
def test_argument_types_are_checked_before_any_work(task_class, kwargs, message, fast):
    with pytest.raises(toolkit.ToolkitError, match=message):
        task_class(**kwargs, **fast).fit("no/such/data")  # the type error comes before the data is looked at


def test_every_constructor_argument_has_a_declared_type():
    for task_class in toolkit.TASKS.available():
        cls = toolkit.TASKS.get(task_class)
        missing = set(cls.param_names()) - set(cls.param_annotations())
        assert not missing, f"{cls.__name__} arguments without a type: {missing}"
        for name, default in cls.param_defaults().items():
            assert params.matches(default, cls.param_annotations()[name]), (cls.__name__, name, default)
