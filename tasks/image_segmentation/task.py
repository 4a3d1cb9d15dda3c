"""Semantic segmentation: `ImageSegmenter` and `train_image_segmenter`."""

import os
import pathlib

import keras
import numpy as np
import tensorflow as tf

from tasks.image_segmentation import augment as augment_lib
from tasks.image_segmentation import data as seg_data
from tasks.image_segmentation import figures as figures_lib
from tasks.image_segmentation import model as model_lib
from tasks.image_segmentation.preprocessor import SegmentationPreprocessor, mask_range
from tasks.image_task import ImageTask
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import estimator
from toolkit.errors import ToolkitError
from toolkit.metrics import confusion, segmentation_metrics
from toolkit.preprocessing import Index
from toolkit.saving import register_task


@register_task
class ImageSegmenter(ImageTask):
    """Labels every pixel of an image with a class.

    The saved model takes raw images of any size (0..255 pixels) and returns
    per-pixel class probabilities at the training size; `predict` resizes
    them back to each image's own size.

    Args:
        backbone: "unet" (from scratch); a convolutional image backbone name ("vgg",
            "resnet", "mobilenet") or KerasHub image preset / local preset
            folder used as the encoder of a U-Net-style decoder; a KerasHub
            segmenter preset or folder (DeepLabV3, SegFormer), whose backbone
            features get a per-pixel classifier; or a `keras.Model` encoder.
        image_size: (height, width) to train at; default: the images' size
            (median), at most 256 a side, rounded down to a multiple of 16.
        width: filters of the first U-Net / decoder stage.
        depth: U-Net down-sampling stages (at least 1); image sides must divide by 2**depth.
        batch_norm: batch normalisation in U-Net blocks.
        dropout: dropout at the U-Net bottleneck.
        loss: "cross_entropy", "dice" or "cross_entropy+dice".
        input_scaling: how 0..255 pixels are scaled before the network: "unit" ([0, 1], the
            default), "symmetric" ([-1, 1]), "raw" (unchanged) or "standardize" (each image to
            mean 0 and standard deviation 1); KerasHub presets use their own converter.
        augment: training augmentations applied to image and mask together,
            from "flip", "rotate90", "crop" (empty: none).
        class_names: names of the class indices (default "0", "1", ...).
        data_dir: TFDS data folder for "tfds:NAME" data.
        **kwargs: the arguments every task shares (epochs, batch_size,
            learning_rate, finetune, tune, save_dir, run_name, ...; see `toolkit.Task`).

    Examples:
        >>> seg = ImageSegmenter(epochs=40).fit(("membrane/image", "membrane/label"))  # doctest: +SKIP
        >>> seg.predict(["cells.png"], overlays=True)[0].shape  # doctest: +SKIP
        (512, 512)
    """

    task_name = "image-segmentation"
    description = "label every pixel of an image with a class"
    default_data = "shapes"
    data_forms = (
        "a folder with an image subfolder and a mask subfolder (images/ + masks/, image/ + label/, ...; a mask "
        "has the image's file stem, PNG of class ids or of colours), an (images folder, masks folder) pair, an "
        "(images, masks) tuple of arrays or file paths, a tf.data.Dataset of (image, mask), or 'tfds:NAME'"
    )
    built_in_data = data_lib.built_in("shapes")
    # U-Net, and image backbones that keep a feature map for the decoder (not mlp / lenet).
    backbone_filters = ({"modality": "segmentation"}, {"modality": "image", "output": "feature_map"})
    keras_hub_task = "ImageSegmenter"
    preprocessor_class = SegmentationPreprocessor

    _parameter_constraints = {
        "dropout": estimator.DROPOUT,
        "width": estimator.POSITIVE,
        "depth": estimator.POSITIVE,
        "image_size": estimator.IMAGE_SIZE,
    }

    def __init__(
        self,
        *,
        backbone: str | keras.Model = "unet",
        image_size: int | tuple[int, int] | None = None,
        width: int = 16,
        depth: int = 4,
        batch_norm: bool = True,
        dropout: float = 0.0,
        loss: str = "cross_entropy+dice",
        input_scaling: str = "unit",
        augment: tuple[str, ...] = ("flip", "rotate90"),
        class_names: tuple[str, ...] | None = None,
        data_dir: str | os.PathLike | None = None,
        epochs: int = 60,
        batch_size: int = 4,
        **kwargs,
    ):
        super().__init__(epochs=epochs, batch_size=batch_size, **kwargs)
        self.backbone = backbone
        self.image_size = image_size
        self.width = width
        self.depth = depth
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.loss = loss
        self.input_scaling = input_scaling
        self.augment = augment
        self.class_names = class_names
        self.data_dir = data_dir

    # ------------------------------------------------------------------- data
    def _check_combinations(self):
        super()._check_combinations()
        if self.backbone == "unet" and self.image_size is not None:
            size = (self.image_size,) * 2 if isinstance(self.image_size, int) else tuple(self.image_size)
            multiple = 2**self.depth
            if any(side % multiple for side in size):
                nearest = tuple(max(multiple, round(side / multiple) * multiple) for side in size)
                raise ToolkitError(
                    f"image_size={self.image_size!r} does not divide by 2**depth = {multiple}.",
                    expected=f"U-Net image sides that are multiples of {multiple} (depth={self.depth} halvings)",
                    fix=f"pass image_size={nearest}, or a smaller depth",
                )
        if self.loss not in model_lib.LOSSES:
            raise ToolkitError(
                f"loss={self.loss!r} is not valid.", expected=f"one of {model_lib.LOSSES}", fix="pass loss="
            )
        augment_lib.check(self.augment)

    def read_data(self, data):
        images, masks, names = seg_data.load_source(data, self.data_dir)
        # One streaming pass over the masks: validates them and finds the class indices they hold.
        _, largest = mask_range(images, masks)
        if names is not None and largest >= len(names):
            raise ToolkitError(
                f"The masks hold class index {largest}, but the data names {len(names)} classes.",
                expected=f"indices 0..{len(names) - 1}",
                fix="check the masks",
            )
        classes = [str(n) for n in names] if names is not None else [str(i) for i in range(largest + 1)]
        # A stream holds the masks beside the images; splits act on positions, by image (no labels).
        targets = images if isinstance(images, data_lib.Stream) else masks
        return Index(images, targets, np.zeros(len(images), int), data_lib.describe(data), classes)

    def make_preprocessor(self):
        return SegmentationPreprocessor(
            image_size=self.image_size if self.image_size is not None else self.preset_image_size(),
            multiple=2**self.depth if self.backbone == "unet" else 32,
            rgb=self._uses_preset(),
            class_names=None if self.class_names is None else list(self.class_names),
            augment=tuple(self.augment),
            seed=self.seed,
        )

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        splits = super().prepare_data(data, validation_data)
        (height, width), info = self.image_size_, splits.info
        self.say(
            f"Image segmentation: {len(self.classes_)} classes, {height}x{width}x{self.channels_} images; "
            f"{info['train_examples']} train / {info['validation_examples']} validation / {info['test_examples']} test."
        )
        return splits

    # ------------------------------------------------------------------ model
    def build_model(self):
        converter = backbones_lib.load_preset(self.backbone, "ImageConverter") if self._uses_preset() else None
        return model_lib.build(
            self.backbone, self.image_size_, self.channels_, len(self.classes_), width=self.width, depth=self.depth,
            batch_norm=self.batch_norm, dropout=self.dropout, input_scaling=self.input_scaling, converter=converter,
        )  # fmt: skip

    def training_loss(self):
        return model_lib.SegmentationLoss(self.loss)

    def training_metrics(self):
        return [
            keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
            keras.metrics.MeanIoU(len(self.classes_), sparse_y_pred=False, name="mean_iou"),
        ]

    # ------------------------------------------------------------- inference
    def report_figures(self):
        return figures_lib.confusion_and_per_class(self.metrics_, self.classes_)

    def report_data_figures(self, part):
        return figures_lib.worst_and_best(self.model_, self.keras_data(part), self.classes_)

    def score(self, dataset):
        matrix = np.zeros((len(self.classes_), len(self.classes_)), dtype=np.int64)
        loss_fn, losses, count = self.training_loss(), [], 0
        for images, masks in dataset:
            probabilities = self._infer(images)
            matrix += confusion(masks.numpy(), np.argmax(probabilities, axis=-1), len(self.classes_))
            losses.append(float(loss_fn(masks, probabilities)) * len(masks))
            count += len(masks)
        return segmentation_metrics(matrix, self.classes_, loss=sum(losses) / max(count, 1))

    def predict(self, inputs, overlays=False):
        """Segments images; each mask comes back at its image's own size.

        Args:
            inputs: an image file path, a list of paths, one image array
                (height, width[, channels]) or a batch / list of them, 0..255 pixels.
            overlays: also write each image with its mask coloured on top and a legend naming the
                classes, as PNG files in `<run_dir>/overlays/` (True), or in the folder given
                (where existing files are never overwritten).

        Returns:
            A list of uint8 arrays (height, width) of class indices (names in `classes_`).
        """
        items, masks = self._segment(inputs)
        if overlays:
            own = overlays is True
            folder = pathlib.Path(self.run_dir) / "overlays" if own else pathlib.Path(overlays)
            self._write_files(items, masks, folder, masks_too=False, overlays=True, replace=own)
        return masks

    def write_predictions(self, inputs, folder, overlays=False):
        """Segments images and writes each mask as a PNG (and, with `overlays`, the image with its mask
        coloured on top and a legend) into `folder`, which is created; existing files are never overwritten.

        A mask PNG is a palette image: its pixel values are the class indices (`classes_`), which
        `PIL.Image.open(path)` and this toolkit's mask loader read back, shown in the overlay colours.

        Returns:
            One (mask array, {"mask": path[, "overlay": path]}) pair per input.
        """
        items, masks = self._segment(inputs)
        written = self._write_files(items, masks, pathlib.Path(folder), masks_too=True, overlays=overlays)
        return list(zip(masks, written))

    def _segment(self, inputs):
        self.check_fitted()
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        if isinstance(inputs, np.ndarray) and (
            inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[-1] in (1, 3, 4))
        ):
            inputs = [inputs]
        items = list(inputs)
        sizes = [seg_data.original_size(item) for item in items]
        x = self.preprocessor_.inputs(items, stream_batch=self._batch_size())
        probabilities = self._infer(x)
        masks = []
        for p, size in zip(probabilities, sizes):
            if tuple(p.shape[:2]) != tuple(size):
                p = tf.image.resize(p, size, method="bilinear").numpy()
            masks.append(np.argmax(p, axis=-1).astype(np.uint8))
        return items, masks

    def _write_files(self, items, masks, folder, masks_too, overlays, replace=False):
        kinds, written = figures_lib.write_files(items, masks, self.classes_, folder, masks_too, overlays, replace)
        self.say(f"Wrote {' and '.join(k + 's' for k in kinds)} of {len(masks)} image(s) to {folder}")
        return written

    def search_space(self, hp):
        space = super().search_space(hp)
        space["loss"] = hp.Choice("loss", list(model_lib.LOSSES))
        if self.backbone == "unet":
            space["width"] = hp.Choice("width", [8, 16, 32])
            space["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
        return space


def train_image_segmenter(data=None, validation_data=None, **kwargs):
    """Trains a segmenter in one line and returns the fitted `ImageSegmenter`.

    Args:
        data: a folder with image and mask subfolders, an (images folder,
            masks folder) pair, (images, masks) arrays or paths, a
            tf.data.Dataset, "shapes" (the default) or "tfds:NAME".
        validation_data: same forms; default a seeded split of `data`.
        **kwargs: `ImageSegmenter` arguments (backbone, image_size, loss, augment, ...).

    Returns:
        The fitted `ImageSegmenter`; its run is in `seg.run_dir`.

    Examples:
        >>> import tempfile
        >>> seg = train_image_segmenter(epochs=1, width=8, depth=2, image_size=32, save_dir=tempfile.mkdtemp(), verbose=0)
        >>> seg.classes_
        ['background', 'circle', 'square', 'triangle']
        >>> sorted(seg.metrics_["validation"])[:4]
        ['confusion_matrix', 'dice', 'loss', 'mean_iou']
    """
    return ImageSegmenter(**kwargs).fit(data, validation_data)
