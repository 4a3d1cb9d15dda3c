"""Task modules: one task class and one `train_*` function per task family.

Examples:
    >>> from tasks import ImageClassifier, train_image_classifier
    >>> ImageClassifier.task_name
    'image-classification'
    >>> clf = train_image_classifier("photos/", backbone="resnet", epochs=10)  # doctest: +SKIP
"""

import toolkit  # noqa: F401  (quiets TensorFlow before the task modules import it)
from tasks.image_classification import ImageClassifier, train_image_classifier
from tasks.image_generation import ImageGenerator, train_image_generator
from tasks.image_segmentation import ImageSegmenter, train_image_segmenter
from tasks.object_detection import ObjectDetector, train_object_detector
from tasks.question_answering import QuestionAnswerer, train_question_answerer
from tasks.speech import SpeechClassifier, SpeechRecognizer, train_speech_classifier, train_speech_recognizer
from tasks.text_classification import TextClassifier, train_text_classifier
from tasks.text_generation import TextGenerator, train_text_generator
from tasks.text_to_text import TextToText, train_text_to_text

__all__ = [
    "ImageClassifier",
    "ImageGenerator",
    "ImageSegmenter",
    "ObjectDetector",
    "QuestionAnswerer",
    "SpeechClassifier",
    "SpeechRecognizer",
    "TextClassifier",
    "TextGenerator",
    "TextToText",
    "train_image_classifier",
    "train_image_generator",
    "train_image_segmenter",
    "train_object_detector",
    "train_question_answerer",
    "train_speech_classifier",
    "train_speech_recognizer",
    "train_text_classifier",
    "train_text_generator",
    "train_text_to_text",
]
