"""Semantic segmentation: U-Net from scratch, encoder-decoders over image backbones, KerasHub segmenters."""

from tasks.image_segmentation.task import ImageSegmenter, train_image_segmenter

__all__ = ["ImageSegmenter", "train_image_segmenter"]
