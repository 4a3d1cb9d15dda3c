"""Image classification: `ImageClassifier` and `train_image_classifier`."""

import os
import warnings
from typing import Literal

import keras
import numpy as np

from tasks.image_classification import data as image_data
from tasks.image_classification import figures as figures_lib
from tasks.image_classification import model as model_lib
from tasks.image_classification.model import AUGMENTATIONS
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import estimator, image_streams
from toolkit import images as images_lib
from toolkit import splits as splits_lib
from toolkit.classification import ClassifierMixin
from toolkit.errors import ToolkitError
from toolkit.saving import register_task
from toolkit.task import Task

# augment="auto": what a from-scratch network gets on a small folder (benchmarks/RESULTS.md, "Defaults
# that learn"). Shifts and scales keep the label of almost any picture; flips and large turns do not
# (digits, text, arrows), so they stay the user's choice.
AUTO_AUGMENT = ("translation", "zoom")
AUTO_AUGMENT_BELOW = 2000  # training images; past this the data itself regularises
AUTO_AUGMENT_MIN_SIDE = 32  # pixels: a 10% shift of a smaller image is under 3 px, mostly interpolation blur
# batch_size=None: a from-scratch network on a small folder trains in batches of 16, else 32. At 32, 168
# images give 6 large steps an epoch; 16 gives twice the steps, each noisier, and generalised better on
# the 240-image shapes folder over three seeds: 800 new images 0.79 / 0.88 / 0.86 against 0.77 / 0.89 /
# 0.77, its own test part 0.71 / 0.92 / 0.90 against 0.65 / 0.83 / 0.79 (benchmarks/RESULTS.md,
# "Defaults that learn").


@register_task
class ImageClassifier(ClassifierMixin, Task):
    """Classifies images into named classes.

    The saved model takes raw images (any size, 0..255 pixels): resizing,
    scaling and augmentation are Keras layers inside it.

    Args:
        backbone: a from-scratch name ("mlp", "lenet", "vgg", "resnet",
            "mobilenet"), a KerasHub preset name or local preset folder, or a
            `keras.Model` mapping images to features.
        image_size: (height, width) to train at; default: the images' own
            size (median for mixed sizes), or the preset's size.
        width: base number of filters / units of from-scratch backbones.
        dropout: dropout rate before the classification layer.
        input_scaling: how 0..255 pixels are scaled before the backbone: "standardize"
            (each image to mean 0 and standard deviation 1), "unit" (to [0, 1]),
            "symmetric" (to [-1, 1], e.g. keras.applications MobileNetV2), or "raw"
            (unchanged, e.g. keras.applications ResNet50 / EfficientNet, which scale
            inside). None (the default): "standardize" for from-scratch backbones, which
            then learn from the first epochs even when brightness and background colour
            vary from image to image, and "unit" for a `keras.Model` backbone. KerasHub
            presets use their own image converter instead.
        augment: augmentations used in training only, from "flip",
            "rotation", "zoom", "translation", "contrast" (empty: none). Each
            layer draws from its own seed, derived from `seed`. "auto" (the
            default): random shifts and zooms of up to 10% for a from-scratch
            backbone on fewer than 2,000 training images of at least 32 px a
            side, where a network otherwise learns its training images by
            heart; none for pretrained backbones, large data sets and tiny
            images. The choice is printed and kept as `augment_`.
        data_dir: TFDS data folder for "tfds:NAME" data.
        batch_size: examples per step; None: 16 for a from-scratch backbone on fewer
            than 500 training images (more, noisier steps generalise better on a small
            folder), else 32. The choice is printed and kept as `batch_size_`.
        epochs: most epochs to train (early stopping may stop sooner); None: 30, raised for a from-scratch
            network on a small training set until it gets 1,000 optimizer steps (at most 200 epochs).
        **kwargs: the arguments every task shares (learning_rate, finetune, tune, save_dir, run_name, ...;
            see `toolkit.Task`).

    Examples:
        >>> clf = ImageClassifier(backbone="resnet", epochs=10).fit("photos/")  # doctest: +SKIP
        >>> clf.predict(["cat.jpg"])  # doctest: +SKIP
        [{'label': 'cat', 'probability': 0.97, 'probabilities': {'cat': 0.97, 'dog': 0.03}}]
    """

    task_name = "image-classification"
    description = "classify images into named classes"
    # No validation floor: a classifier picks only its checkpoint on validation, and on small folders every
    # training image counts. Measured on the 240-image shapes folder (800 new images, seeds 0 / 1 / 2): with
    # the floor (162 train / 30 validation) 0.674 / 0.849 / 0.294, seed 2 stopped at chance after 44 epochs;
    # without it (168 / 24) 0.705 / 0.849+ / 0.860 (benchmarks/RESULTS.md). The report flags the small part.
    floors_validation = False
    default_data = "digits"
    data_forms = (
        "a folder of class subfolders of images (photos/cat/1.jpg; JPEG, PNG, BMP, GIF, WebP, TIFF; any size, grey "
        "or colour), a CSV of path,label (header optional, paths relative to the CSV), an (images, labels) tuple of "
        "arrays (pixels 0-255), a tf.data.Dataset of (image, label), or 'tfds:NAME[:SPLIT]'"
    )
    built_in_data = data_lib.built_in("digits")
    backbone_filters = ({"modality": "image"},)
    keras_hub_task = "ImageClassifier"

    _parameter_constraints = {
        "dropout": estimator.DROPOUT,
        "width": estimator.POSITIVE,
        "image_size": estimator.IMAGE_SIZE,
    }

    def __init__(
        self,
        *,
        backbone: str | keras.Model = "vgg",
        image_size: int | tuple[int, int] | None = None,
        width: int = 32,
        dropout: float = 0.2,
        input_scaling: str | None = None,
        augment: Literal["auto"] | tuple[str, ...] = "auto",
        data_dir: str | os.PathLike | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        **kwargs,
    ):
        super().__init__(epochs=epochs, batch_size=batch_size, **kwargs)
        self.backbone = backbone
        self.image_size = image_size
        self.width = width
        self.dropout = dropout
        self.input_scaling = input_scaling
        self.augment = augment
        self.data_dir = data_dir

    # ------------------------------------------------------------------- data
    def prepare_data(self, data, validation_data):
        self._check_backbone()
        images_lib.check_image_params(self)
        for name in () if self.augment == "auto" else self.augment:
            if name not in AUGMENTATIONS:
                raise ToolkitError(
                    f"Unknown augmentation {name!r}.",
                    expected=f"names from {sorted(AUGMENTATIONS)}",
                    fix="fix the augment= list",
                )
        self._files = []
        images, labels, class_names = image_data.load_source(data, self.data_dir)
        data_lib.check_same_length(images, labels)
        y, self.classes_ = data_lib.encode_labels(labels, class_names)
        data_lib.require_two_classes(y, self.classes_)
        if not _are_paths(images) and not isinstance(images, data_lib.Stream):
            data_lib.check_finite(images, "image")  # before the split, so the error counts as the user does
        # The split acts on positions first: the image size is learned from the training part only.
        val_images, y_given = None, None
        if validation_data is not None:
            val_images, y_given = self._raw(validation_data)
        train, y, val, y_val, test, info = splits_lib.holdout_positions(
            y, y_given, validation_data, **self._split_options()
        )
        train_images = data_lib.take(images, train)
        self.image_size_, self.channels_ = self._choose_size_and_channels(train_images)
        self.augment_ = self._choose_augment(len(y))
        self.batch_size_ = self._choose_batch_size(len(y), "images")
        x = self._materialise(train_images)
        if not isinstance(x, data_lib.Stream) and x.dtype == np.uint8:
            self._warn_if_unit_range(x, train_images)
        x_val = self._materialise(val_images if validation_data is not None else data_lib.take(images, val))
        x_test = None if test is None else self._materialise(data_lib.take(images, test[0]))
        info = {"train_source": data_lib.describe(data), **info}
        self.say(
            f"Image classification: {len(self.classes_)} classes; "
            f"{len(y)} train / {len(y_val)} validation / {info['test_examples']} test."
        )
        return data_lib.Splits(
            train=self._dataset(x, y, shuffle=True),
            validation=self._dataset(x_val, y_val),
            test=None if test is None else self._dataset(x_test, test[1]),
            info=info,
        )

    def _choose_size_and_channels(self, images):
        """The training size (as given, the preset's, the backbone's, or the images' median capped for
        a from-scratch backbone) and channels, from a bounded sample of the training images."""
        image_size = self.image_size
        if image_size is None and self._uses_preset():
            converter = backbones_lib.load_preset(self.backbone, "ImageConverter")
            image_size = tuple(converter.image_size) if converter is not None and converter.image_size else (224, 224)
        if image_size is None and isinstance(self.backbone, keras.Model) and None not in self.backbone.input_shape[1:3]:
            image_size = tuple(self.backbone.input_shape[1:3])
        # Sizes and channels come from a bounded sample of file headers, not from every file.
        sample = image_streams.header_sample(images, self.seed) if _are_paths(images) else images
        size, channels = image_streams.choose_size_and_channels(sample, image_size, verbose=bool(self.verbose))
        how = "as given" if image_size is not None else "the images' own size (median)"
        if image_size is None and image_streams.capped_size(size) != size:
            size = image_streams.capped_size(size)
            how = f"the images' median size, capped at {image_streams.SCRATCH_MAX_SIDE} px a side for a from-scratch backbone"
        # Pretrained backbones and user models built for colour take RGB, whatever the files are.
        needs_rgb = self._uses_preset() or (
            isinstance(self.backbone, keras.Model) and self.backbone.input_shape[-1] == 3
        )
        channels = 3 if needs_rgb else channels
        self.say(f"Image size: {size[0]}x{size[1]}x{channels} ({how}; pass image_size= to choose).")
        return size, channels

    def _choose_augment(self, train_examples):
        """`augment`, or for "auto" the default for this backbone, training set and image size (printed).

        Examples:
            >>> clf = ImageClassifier(verbose=0)
            >>> clf.image_size_ = (64, 64)
            >>> clf._choose_augment(168), clf._choose_augment(5000)
            (('translation', 'zoom'), ())
            >>> clf.image_size_ = (8, 8)
            >>> clf._choose_augment(168)
            ()
        """
        if self.augment != "auto":
            return tuple(self.augment)
        from_scratch = isinstance(self.backbone, str) and self.backbone in backbones_lib.BACKBONES
        small = train_examples < AUTO_AUGMENT_BELOW and min(self.image_size_) >= AUTO_AUGMENT_MIN_SIDE
        chosen = AUTO_AUGMENT if from_scratch and small else ()
        if chosen:
            self.say(
                f"Augmentation: {', '.join(chosen)} (the default for a from-scratch network on fewer than "
                f"{AUTO_AUGMENT_BELOW:,} training images; pass augment=() for none)."
            )
        return chosen

    def _raw(self, data):
        """Any accepted data form -> (images as loaded: paths, arrays or a Stream; class indices)."""
        images, labels, _ = image_data.load_source(data, self.data_dir)
        data_lib.check_same_length(images, labels)
        y, _ = data_lib.encode_labels(labels, self.classes_)
        return images, y

    def _materialise(self, images):
        """Loaded images -> the index the datasets read: file paths, a Stream, or uint8 arrays at the training size."""
        if _are_paths(images):
            return np.array([str(p) for p in images])  # decoded inside tf.data
        if isinstance(images, data_lib.Stream):
            return images  # positions in the stream
        return image_streams.to_array(images, tuple(self.image_size_), self.channels_, verbose=bool(self.verbose))

    def _index(self, data):
        """Any accepted data form -> (file paths, a Stream, or uint8 images at the trained size; class indices)."""
        images, y = self._raw(data)
        return self._materialise(images), y

    def _dataset(self, x, y, shuffle=False):
        """The index of one part -> a batched dataset of (float32 images, labels) (see `image_streams.batched_dataset`)."""
        dataset, files = image_streams.batched_dataset(
            x, y, tuple(self.image_size_), self.channels_, self._global_batch_size(), shuffle=shuffle, seed=self.seed
        )
        self._files = getattr(self, "_files", []) + files  # to name a bad file if decoding fails
        return dataset

    def explain_data_error(self, error):
        return images_lib.explain_decode_error(error, getattr(self, "_files", None))

    def evaluation_data(self, data):
        self._files = []
        return self._dataset(*self._index(data))

    def _warn_if_unit_range(self, x, images):
        if not (len(images) and isinstance(images[0], str)) and x.max() <= 1:
            warnings.warn(
                "The images' pixel values are all 0 or 1. The model expects 0..255 pixels; "
                "if your arrays are scaled to [0, 1], multiply them by 255.",
                stacklevel=2,
            )

    # ------------------------------------------------------------------ model
    def _warmup_epochs(self):
        """`warmup_epochs`, or when None: half of a budget raised for a small folder (a from-scratch network
        that began to learn late was stopped by early stopping on its small, noisy validation part), else the
        base rule. On the 240-image shapes folder (800 new images) a fifth scored 0.705 / 0.884 / 0.860 over
        seeds 0-2, half 0.823 / 0.884 / 0.86+ (benchmarks/RESULTS.md)."""
        if self.warmup_epochs is None and self._budget_raised() and not self._pretrained_backbone():
            return self.epochs_ // 2
        return super()._warmup_epochs()

    def build_model(self):
        # "auto" was decided by the data step (`augment_`); a list given here, or by a search, is used as is.
        augment = self.augment_ if self.augment == "auto" else self.augment
        backbone, converter = model_lib.backbone_and_converter(
            self.backbone, (*self.image_size_, self.channels_), self.width, self._input_scaling(), self.say
        )
        return model_lib.build(
            backbone, converter, self.image_size_, self.channels_, len(self.classes_), augment, self.dropout,
            self._input_scaling(), self.seed,
        )  # fmt: skip

    def _input_scaling(self):
        """`input_scaling`, or its default: per-image standardization for a named from-scratch backbone."""
        if self.input_scaling is not None:
            return self.input_scaling
        from_scratch = isinstance(self.backbone, str) and self.backbone in backbones_lib.BACKBONES
        return "standardize" if from_scratch else "unit"

    # ------------------------------------------------------------- inference

    def predict(self, inputs):
        """Classifies images.

        Args:
            inputs: an image file path, a list of paths, one image array
                (height, width[, channels]) or a batch (N, height, width[, channels])
                of 0..255 pixels.

        Returns:
            One dict per image: {"label", "probability", "probabilities": {class: p}}.
        """
        self.check_fitted()
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], (str, os.PathLike)):
            x = image_streams.to_array([str(p) for p in inputs], tuple(self.image_size_), self.channels_, verbose=False)
        else:
            x = image_streams.to_array(self._as_batch(inputs), tuple(self.image_size_), self.channels_)
        probabilities = self.model_.predict(x.astype("float32"), batch_size=self._batch_size(), verbose=0)
        return self._answers(probabilities)

    def _as_batch(self, inputs):
        """One image becomes a batch of one; batches and lists pass through.

        (H, W) and (H, W, 1) are one grey image, (H, W, 3 or 4) one colour
        image; any other 3-D array is a batch of grey images (N, H, W).
        """
        if isinstance(inputs, (list, tuple)):
            return inputs
        array = np.asarray(inputs)
        if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4)):
            return array[None]
        return array

    def report_data_figures(self, part):
        return figures_lib.confident_mistakes(self.model_, self.keras_data(part), self.classes_)

    def search_space(self, hp):
        space = super().search_space(hp)
        space["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
        if isinstance(self.backbone, str) and self.backbone in backbones_lib.BACKBONES:
            space["backbone"] = hp.Choice("backbone", self.accepted_backbones())
            space["width"] = hp.Choice("width", [16, 32, 64])
        return space


def _are_paths(images):
    return not isinstance(images, data_lib.Stream) and len(images) > 0 and isinstance(images[0], (str, os.PathLike))


def train_image_classifier(data=None, validation_data=None, **kwargs):
    """Trains an image classifier in one line and returns the fitted `ImageClassifier`.

    Args:
        data: a folder of class subfolders, a CSV of path,label, an
            (images, labels) tuple, a tf.data.Dataset, "digits" (the default)
            or "tfds:NAME".
        validation_data: same forms; default a seeded split of `data`.
        **kwargs: `ImageClassifier` arguments (backbone, epochs, finetune, tune, ...).

    Returns:
        The fitted `ImageClassifier`; its run is in `clf.run_dir`.

    Examples:
        >>> import tempfile
        >>> from tasks.image_classification.data import digits
        >>> clf = train_image_classifier(backbone="mlp", epochs=3, save_dir=tempfile.mkdtemp(), verbose=0)
        >>> clf.metrics_["test"]["accuracy"] > 0.85
        True
        >>> images, labels, _ = digits()
        >>> clf.predict(images[:1])[0]["label"], labels[0]
        ('0', '0')
    """
    return ImageClassifier(**kwargs).fit(data, validation_data)
