"""Text classification: from-scratch models over words and fine-tuned pretrained encoders."""

from tasks.text_classification.task import TextClassifier, train_text_classifier

__all__ = ["TextClassifier", "train_text_classifier"]
