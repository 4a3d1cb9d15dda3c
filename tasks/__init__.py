"""Task modules: one task class and one `train_*` function per task family.

Example:
>>> from tasks import ImageClassifier, train_image_classifier
>>> ImageClassifier.task_name
'image-classification'
>>> clf = train_image_classifier("photos/", backbone="resnet", epochs=10)  # doctest: +SKIP
"""

import toolkit  # noqa: F401  (quiets TensorFlow before the task modules import it)
from tasks.image_classification import ImageClassifier, train_image_classifier
from tasks.image_segmentation import ImageSegmenter, train_image_segmenter
from tasks.text_classification import TextClassifier, train_text_classifier

__all__ = [
    "ImageClassifier",
    "ImageSegmenter",
    "TextClassifier",
    "train_image_classifier",
    "train_image_segmenter",
    "train_text_classifier",
]
