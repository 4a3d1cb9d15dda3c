"""What object detection learns from the training part (class names, the square training size) and the
tf.data pipeline of images with their boxes, augmented together in training."""

import collections

import numpy as np

from tasks.object_detection import data as detection_data
from tasks.object_detection import pipeline
from toolkit import data as data_lib
from toolkit.errors import ToolkitError
from toolkit.preprocessing import Index, Preprocessor

# A split part: a dataset of (images, boxes, labels) batches, before the detector's training targets.
Part = collections.namedtuple("Part", ["dataset"])


class DetectionPreprocessor(Preprocessor):
    """Learns the classes and the training size; batches any part's images with their boxes.

    Args:
        image_size: the square side to train at, or None for the training images' median longer side,
            floored to a multiple of 32, from 64 to 256.
        augment: training augmentations applied to images and boxes together (`pipeline.box_dataset`).
        augment_strength: how strong they are.
        seed: seeds the sample of sizes and the augmentation.
    """

    state_attributes = ("classes", "image_size")

    def __init__(self, *, image_size=None, augment=(), augment_strength=1.0, seed=0):
        super().__init__(image_size=image_size, augment=list(augment), augment_strength=augment_strength, seed=seed)

    def adapt(self, index):
        self.classes = list(index.classes)
        train = source(index)
        if train.targets is not None and not any(len(b) for b, _ in train.targets):
            raise ToolkitError(
                "The training images hold no boxes at all.",
                expected="annotated objects to learn from (images without boxes are fine as negatives)",
                fix="check the annotations and class_names",
            )
        self.image_size = self.config["image_size"] or self.median_size(train)

    def median_size(self, train):
        """The images' median longer side, floored to a multiple of 32, from 64 to 256."""
        sizes = detection_data.sizes_sample(train, seed=self.config["seed"])
        side = float(np.median([max(h, w) for h, w in sizes])) if sizes else 256.0
        return int(min(256, max(64, side // 32 * 32)))

    def checked(self, index):
        """A part as a Source whose label indices are this model's classes (another order is remapped)."""
        part = source(index)
        if list(part.classes) == list(self.classes):
            return part
        unknown = [name for name in part.classes if name not in self.classes]
        if unknown:
            raise ToolkitError(
                f"The data names class(es) {unknown[:5]} that this model does not know ({self.classes}).",
                expected="the classes the model was trained on",
                fix="check the annotations, or pass class_names= in the training classes' order",
            )
        if part.targets is None:
            raise ToolkitError(
                f"The dataset's classes {part.classes} differ from the model's {self.classes}.",
                expected="class ids in the model's order",
                fix="pass class_names= with the model's classes",
            )
        remap = np.array([self.classes.index(name) for name in part.classes], np.int32)
        targets = []
        for boxes, labels in part.targets:
            classes, crowd = detection_data.split_crowd(labels)
            targets.append((boxes, np.where(crowd, detection_data.crowd_label(remap[classes]), remap[classes])))
        return detection_data.Source(part.images, targets, list(self.classes))

    def dataset(self, index, *, training=False, batch_size=8, seed=0):
        part = self.checked(index)
        if isinstance(part.images, list):
            self.files += [i for i in part.images if isinstance(i, str)]
        images = part.images.dataset() if isinstance(part.images, data_lib.Stream) else part.images
        dataset = pipeline.box_dataset(
            images, part.targets, self.image_size, augment=tuple(self.config["augment"]) if training else (),
            strength=self.config["augment_strength"], seed=seed, shuffle=training, batch_size=batch_size,
        )  # fmt: skip
        return Part(dataset)


def index_of(source, about):
    """A `Source` (images, targets, classes) -> an `Index`; a stream carries its boxes, so it is both."""
    targets = source.images if source.targets is None else source.targets
    return Index(source.images, targets, np.zeros(len(source.images), int), about, list(source.classes))


def source(index):
    """An `Index` -> the `Source` the pipeline reads."""
    streamed = isinstance(index.inputs, data_lib.Stream)
    return detection_data.Source(index.inputs, None if streamed else list(index.targets), list(index.classes))
