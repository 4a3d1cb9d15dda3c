"""Object detection: annotations in every common format (`annotations`), the built-in generated set
(`shapes`), the streaming pipeline with box-moving augmentation (`pipeline`), center-point targets,
loss and decoding (`centers`), the from-scratch detector (`detector`) and the task (`task`)."""

from tasks.object_detection.task import ObjectDetector, train_object_detector

__all__ = ["ObjectDetector", "train_object_detector"]
