"""What image generation learns from the training part (size, channels, class names when the data has
labels) and the tf.data pipeline of (float32 images 0..255, class indices or zeros)."""

import numpy as np

from tasks.image_classification.preprocessor import ImageBatches, _are_paths
from tasks.image_generation import data as generation_data
from toolkit import data as data_lib
from toolkit import image_streams

# Generative models train at most at this many pixels a side unless image_size says otherwise (CPU-sized).
MAX_SIDE = 64


class GenerationPreprocessor(ImageBatches):
    """Learns the training size (capped at `MAX_SIDE`, rounded down to a multiple of `divisor`), the
    channels and, for labelled data, the class names.

    Args:
        image_size: (height, width) to train at, or None for the training images' median size.
        channels: 1 or 3, or None for the data's own (images with another count are then an error).
        divisor: what the sides must divide by (the networks halve them `depth` times).
        seed: seeds the sample of file headers the size is learned from.

    Examples:
        >>> from toolkit.preprocessing import Index
        >>> preprocessor = GenerationPreprocessor(divisor=4)
        >>> preprocessor.adapt(Index(np.zeros((3, 30, 30), np.uint8), np.zeros(3)))
        >>> preprocessor.image_size, preprocessor.channels, preprocessor.classes
        ((28, 28), 1, None)
    """

    def __init__(self, *, image_size=None, channels=None, divisor=1, seed=0):
        super().__init__(image_size=image_size, channels=channels, divisor=divisor, seed=seed)

    def adapt(self, index):
        self.classes = None if index.classes is None else list(index.classes)
        images, requested, divisor = index.inputs, self.config["image_size"], self.config["divisor"]
        sample = image_streams.header_sample(images, self.config["seed"]) if _are_paths(images) else images
        generation_data.check_channels(sample, self.config["channels"])
        size, channels = image_streams.choose_size_and_channels(sample, requested)
        self.size_source = "as given"
        if requested is None:
            self.size_source = "the images' own size (median)"
            if image_streams.capped_size(size, MAX_SIDE) != size:
                size = image_streams.capped_size(size, MAX_SIDE)
                self.size_source = f"the images' median size, capped at {MAX_SIDE} px a side"
        rounded = tuple(max(divisor, side // divisor * divisor) for side in size)
        if rounded != tuple(size):
            self.size_source += f", rounded down to a multiple of {divisor}"
        self.image_size, self.channels = rounded, self.config["channels"] or channels

    def labels(self, index):
        """Class indices of a labelled part for a model trained on labels; zeros otherwise."""
        if self.classes is None or index.classes is None:
            return np.zeros(len(index.inputs), dtype="int32")
        return data_lib.encode_labels(index.targets, self.classes)[0].astype("int32")
