"""Task modules: one task class and one `train_*` function per task family.

Examples:
    >>> from tasks import ImageClassifier, train_image_classifier
    >>> ImageClassifier.task_name
    'image-classification'
    >>> clf = train_image_classifier("photos/", backbone="resnet", epochs=10)  # doctest: +SKIP
"""

import importlib

import toolkit  # noqa: F401  (quiets TensorFlow before the task modules import it)

# Each name is imported from its family's package when first asked for (PEP 562), so loading one run
# (`toolkit predict RUN ...`) imports that run's family only, not all ten.
_HOMES = {
    "ImageClassifier": "image_classification",
    "train_image_classifier": "image_classification",
    "ImageGenerator": "image_generation",
    "train_image_generator": "image_generation",
    "ImageSegmenter": "image_segmentation",
    "train_image_segmenter": "image_segmentation",
    "ObjectDetector": "object_detection",
    "train_object_detector": "object_detection",
    "QuestionAnswerer": "question_answering",
    "train_question_answerer": "question_answering",
    "SeriesClassifier": "series",
    "TimeSeriesForecaster": "forecasting",
    "train_forecaster": "forecasting",
    "train_series_classifier": "series",
    "SpeechClassifier": "speech",
    "SpeechRecognizer": "speech",
    "train_speech_classifier": "speech",
    "train_speech_recognizer": "speech",
    "TabularClassifier": "tables",
    "TabularRegressor": "tables",
    "train_tabular_classifier": "tables",
    "train_tabular_regressor": "tables",
    "TextClassifier": "text_classification",
    "train_text_classifier": "text_classification",
    "TextGenerator": "text_generation",
    "train_text_generator": "text_generation",
    "TextToText": "text_to_text",
    "train_text_to_text": "text_to_text",
}


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tasks.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))


__all__ = [
    "ImageClassifier",
    "ImageGenerator",
    "ImageSegmenter",
    "ObjectDetector",
    "QuestionAnswerer",
    "SeriesClassifier",
    "SpeechClassifier",
    "SpeechRecognizer",
    "TabularClassifier",
    "TabularRegressor",
    "TextClassifier",
    "TextGenerator",
    "TextToText",
    "train_image_classifier",
    "train_image_generator",
    "train_image_segmenter",
    "train_object_detector",
    "train_question_answerer",
    "train_series_classifier",
    "train_speech_classifier",
    "train_speech_recognizer",
    "train_tabular_classifier",
    "train_tabular_regressor",
    "train_text_classifier",
    "train_text_generator",
    "train_text_to_text",
]
