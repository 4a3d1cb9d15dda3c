"""Image classification task."""

from tasks.image_classification.task import ImageClassifier, train_image_classifier

__all__ = ["ImageClassifier", "train_image_classifier"]
