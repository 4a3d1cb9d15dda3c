"""Semantic segmentation: `ImageSegmenter` and `train_image_segmenter`."""

import os
import pathlib

import keras
import numpy as np
import tensorflow as tf

from tasks.image_segmentation import augment as augment_lib
from tasks.image_segmentation import data as seg_data
from tasks.image_segmentation import models
from toolkit import backbones as backbones_lib
from toolkit import data as data_lib
from toolkit import distribute, estimator, image_streams
from toolkit import images as images_lib
from toolkit import splits as splits_lib
from toolkit.errors import ToolkitError
from toolkit.metrics import confusion, segmentation_metrics
from toolkit.saving import register_task
from toolkit.task import Task

# Overlay colours per class index (class 0 is left uncoloured).
PALETTE = np.array(
    [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
     [70, 240, 240], [240, 50, 230], [210, 245, 60]],
    dtype=np.uint8,
)  # fmt: skip


@register_task
class ImageSegmenter(Task):
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
    def prepare_data(self, data, validation_data):
        self._check_segmentation_params()
        self._files = []  # image files the datasets decode, to name a bad one if decoding fails
        images, masks, names = seg_data.load_source(data, self.data_dir)
        # One streaming pass over the masks: validates them and finds the class indices they hold.
        low, largest = self._mask_range(images, masks)
        names = list(self.class_names) if self.class_names else names
        if names is not None and largest >= len(names):
            raise ToolkitError(
                f"The masks hold class index {largest}, but {len(names)} class names were given.",
                expected=f"indices 0..{len(names) - 1}",
                fix="give a name for every class index, or check the masks",
            )
        self.classes_ = [str(n) for n in names] if names is not None else [str(i) for i in range(largest + 1)]
        data_lib.require_two_classes(np.unique([low, largest]), self.classes_)
        # Splits are of positions, by image; holdout's labels only stratify, and images have none.
        validation, val_loaded = None, None
        if validation_data is not None:
            val_loaded = self._checked(validation_data)
            count = len(val_loaded[0])
            validation = ([np.arange(count)], np.zeros(count, dtype=int))
        count = len(images)
        ((train,), _), ((val,), _), test, info = splits_lib.holdout(
            [np.arange(count)],
            np.zeros(count, dtype=int),
            validation=validation,
            validation_source=data_lib.describe(validation_data),
            **self._split_options(),
        )
        # The image size is learned from (a bounded sample of) the training part only.
        train = _take(images, masks, train)
        self.image_size_, self.channels_ = self._choose_size_and_channels(train[0])
        val = val_loaded if validation is not None else _take(images, masks, val)
        test = None if test is None else _take(images, masks, test[0][0])
        info = {"train_source": data_lib.describe(data), **info}
        self.say(
            f"Image segmentation: {len(self.classes_)} classes, {self.image_size_[0]}x{self.image_size_[1]}x"
            f"{self.channels_} images; {info['train_examples']} train / {info['validation_examples']} validation / "
            f"{info['test_examples']} test."
        )
        return data_lib.Splits(
            train=self._dataset(self._source(*train), shuffle=True),
            validation=self._dataset(self._source(*val)),
            test=None if test is None else self._dataset(self._source(*test)),
            info=info,
        )

    def _check_segmentation_params(self):
        self._check_backbone()
        images_lib.check_image_params(self)
        if self.depth < 1:
            raise ToolkitError(
                f"depth={self.depth} is not valid.",
                expected="a U-Net depth of at least 1 (down-sampling stages)",
                fix="pass depth=4 (the default) or another positive number",
            )
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
        if self.loss not in models.LOSSES:
            raise ToolkitError(
                f"loss={self.loss!r} is not valid.", expected=f"one of {models.LOSSES}", fix="pass loss="
            )
        augment_lib.check(self.augment)

    def _choose_size_and_channels(self, images):
        """The training size (the preset's, or the images' median from a bounded sample) and channels."""
        stream = isinstance(images, data_lib.Stream)
        sample = images if stream else image_streams.header_sample(images, self.seed) if _are_paths(images) else images
        size = self.image_size
        if size is None and self._uses_preset():
            converter = backbones_lib.load_preset(self.backbone, "ImageConverter")
            size = tuple(converter.image_size) if converter is not None and converter.image_size else None
        if size is None:
            if stream:
                sizes, _ = image_streams.stream_sizes(images.dataset())
                sizes = np.array(sizes)
            else:
                sizes = np.array([seg_data.original_size(image) for image in sample])
            multiple = 2**self.depth if self.backbone == "unet" else 32
            size = [max(multiple, min(256, int(np.median(sizes[:, i]))) // multiple * multiple) for i in (0, 1)]
        size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
        _, channels = image_streams.choose_size_and_channels(images if stream else sample[:50], size, verbose=False)
        return size, 3 if (self._uses_preset() or channels == 3) else 1

    def _source(self, images, masks):
        """The index the datasets read: [image paths, mask paths], [uint8 images, uint8 masks] at the
        training size (arrays the user passed are in memory already), or [a Stream of (image, mask)]."""
        if isinstance(images, data_lib.Stream):
            return [images]
        if _are_paths(images) and _are_paths(masks):
            return [np.array([str(p) for p in images]), np.array([str(p) for p in masks])]
        x = image_streams.to_array(
            [str(i) if isinstance(i, os.PathLike) else i for i in images], self.image_size_, self.channels_,
            verbose=bool(self.verbose),
        )  # fmt: skip
        return [x, np.stack([seg_data.read_mask(mask, self.image_size_) for mask in masks])]

    def _mask_range(self, images, masks):
        """(smallest, largest) class index of the masks, after checking each pair's sizes; mask files
        and arrays are read (and checked) one at a time, a stream in one pass."""
        if isinstance(images, data_lib.Stream):
            return seg_data.stream_mask_range(images)
        seg_data.check_pairs(images, masks)
        low, high = 255, 0
        for mask in masks:
            mask = seg_data.read_mask(str(mask) if isinstance(mask, os.PathLike) else mask)
            low, high = min(low, int(mask.min(initial=255))), max(high, int(mask.max(initial=0)))
        return low, high

    def _checked(self, data):
        """Validation or evaluation data as loaded (images, masks), its masks checked against the classes."""
        images, masks, _ = seg_data.load_source(data, self.data_dir)
        _, largest = self._mask_range(images, masks)
        if largest >= len(self.classes_):
            raise ToolkitError(
                f"The masks hold class index {largest}, unknown to this model ({len(self.classes_)} classes).",
                expected=f"indices 0..{len(self.classes_) - 1}",
                fix="check the evaluation masks",
            )
        return images, masks

    def _dataset(self, part, shuffle=False):
        """One part of the index -> a batched dataset of (float32 images, int32 masks).

        Files are decoded inside tf.data; decoded uint8 pairs are cached in memory only when
        they fit `image_streams.MEMORY_CACHE_BYTES`, so memory stays flat as the folder grows.
        """
        size, channels = tuple(self.image_size_), self.channels_
        first, count = part[0], _length(part)
        stream = isinstance(first, data_lib.Stream)
        on_disk = stream or first.dtype.kind in "US"
        cache = not on_disk or image_streams.fits_in_memory(count, size, channels + 1)
        if stream:
            spec = first.source.element_spec
            image = image_streams.stream_image_converter(spec[0].shape, size, channels)
            mask = seg_data.stream_mask_converter(spec[1].shape, size)
            dataset = first.dataset().map(lambda x, m: (image(x), mask(m)), num_parallel_calls=tf.data.AUTOTUNE)
        elif on_disk:
            self._files = getattr(self, "_files", []) + first.tolist()
            # Uncached, the paths are shuffled (cheap), not decoded images.
            dataset = image_streams.file_dataset(
                first, part[1], size, channels, shuffle_seed=self.seed if shuffle and not cache else None
            ).map(lambda x, path: (x, _decode_mask(path, size)), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            dataset = tf.data.Dataset.from_tensor_slices((part[0], part[1]))
        if cache:
            dataset = dataset.cache()
        if shuffle and (cache or stream):
            dataset = dataset.shuffle(
                min(count, 1000 if stream else 10_000), seed=self.seed, reshuffle_each_iteration=True
            )
        dataset = dataset.map(
            lambda x, m: (tf.cast(x, "float32"), tf.cast(m, "int32")), num_parallel_calls=tf.data.AUTOTUNE
        )
        if shuffle and self.augment:
            names = tuple(self.augment)
            seeds = tf.data.Dataset.random(seed=self.seed, rerandomize_each_iteration=True).batch(2)
            dataset = tf.data.Dataset.zip((dataset, seeds)).map(
                lambda pair, seed: augment_lib.augment_pair(pair[0], pair[1], seed, names),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        return dataset.batch(self._global_batch_size()).prefetch(tf.data.AUTOTUNE)

    def explain_data_error(self, error):
        return images_lib.explain_decode_error(error, getattr(self, "_files", None))

    def evaluation_data(self, data):
        self._files = []
        return self._dataset(self._source(*self._checked(data)))

    # ------------------------------------------------------------------ model
    def build_model(self):
        height, width = self.image_size_
        inputs = keras.Input((None, None, self.channels_), name="image")
        x = keras.layers.Resizing(height, width, name="resize")(inputs)
        converter = None
        if self._uses_preset():
            converter = backbones_lib.load_preset(self.backbone, "ImageConverter")
        if converter is not None:
            x = type(converter).from_config({**converter.get_config(), "image_size": (height, width)})(x)
        else:
            x = images_lib.scaling_layer(self.input_scaling or "unit")(x)
        features = self._features(x, (height, width, self.channels_))
        outputs = keras.layers.Conv2D(len(self.classes_), 1, activation="softmax", name="classes", dtype="float32")(
            features
        )
        return keras.Model(inputs, outputs, name="image_segmenter")

    def _features(self, x, input_shape):
        """Full-resolution features from the chosen backbone (a sub-model named "backbone")."""
        if self.backbone == "unet":
            net = models.unet(input_shape, self.width, self.depth, self.batch_norm, self.dropout)
            return net(x)
        if isinstance(self.backbone, keras.Model):
            encoder = backbones_lib.copy_model(self.backbone)
        elif self.backbone in backbones_lib.BACKBONES:
            encoder = backbones_lib.BACKBONES.get(self.backbone)(input_shape, width=self.width)
        else:
            encoder = backbones_lib.load_preset(self.backbone, "backbone", name="backbone")
            if not getattr(encoder, "pyramid_outputs", None):
                # A segmenter's backbone (DeepLabV3, SegFormer): one feature map, upsampled to the input.
                return models.upsample_to(encoder(x), input_shape[:2], self.width)
        pyramid = models.feature_pyramid(encoder)
        return models.pyramid_decoder(pyramid(x), input_shape[:2], self.width)

    def training_loss(self):
        return models.SegmentationLoss(self.loss)

    def training_metrics(self):
        return [
            keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
            keras.metrics.MeanIoU(len(self.classes_), sparse_y_pred=False, name="mean_iou"),
        ]

    # ------------------------------------------------------------- inference
    def report_figures(self):
        """The pixel confusion matrix and per-class IoU and Dice of the test split (else validation)."""
        from toolkit import figures

        split = "test" if (self.metrics_ or {}).get("test") else "validation"
        scores = (self.metrics_ or {}).get(split) or {}
        drawn = []
        if scores.get("confusion_matrix") is not None:
            drawn.append(
                (
                    f"Pixel confusion matrix ({split})",
                    figures.confusion_figure(scores["confusion_matrix"], self.classes_),
                )
            )
        if scores.get("per_class"):
            bars = figures.per_class_figure(scores["per_class"], ("iou", "dice"), self.classes_)
            drawn.append((f"Per-class IoU and Dice ({split})", bars))
        return drawn

    def report_data_figures(self, part, most=500):
        """The three test images segmented worst and the three best (by pixel accuracy): image, truth, prediction."""
        from toolkit import figures

        scored = []
        for images, masks in self.keras_data(part):
            predicted = np.argmax(distribute.predict_on_batch(self.model_, images), axis=-1)
            for image, mask, guess in zip(images.numpy(), masks.numpy(), predicted):
                scored.append((float(np.mean(mask == guess)), image, mask, guess))
            if len(scored) >= most:
                break
        if not scored:
            return []
        scored.sort(key=lambda item: item[0])
        chosen = scored[:3] + scored[-3:] if len(scored) > 6 else scored
        colours = figures.mask_colours(len(self.classes_))
        tiles, titles = [], []
        for accuracy, image, mask, guess in chosen:
            tiles += [np.clip(image, 0, 255).astype(np.uint8), colours[mask.astype(int)], colours[guess]]
            titles += [f"pixel accuracy {accuracy:.3f}", "truth", "prediction"]
        legend = ", ".join(f"{name}: colour {i + 1}" for i, name in enumerate(self.classes_))
        title = f"Worst and best segmentations (test; top rows worst). Classes in palette order: {legend}"
        return [(title, figures.image_grid(tiles, titles, columns=3))]

    def score(self, dataset):
        matrix = np.zeros((len(self.classes_), len(self.classes_)), dtype=np.int64)
        loss_fn, losses, count = self.training_loss(), [], 0
        for images, masks in dataset:
            probabilities = distribute.predict_on_batch(self.model_, images)
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
        x = image_streams.to_array(
            [str(i) if isinstance(i, os.PathLike) else i for i in items], tuple(self.image_size_), self.channels_, False
        )
        probabilities = self.model_.predict(x.astype("float32"), batch_size=self._batch_size(), verbose=0)
        masks = []
        for p, size in zip(probabilities, sizes):
            if tuple(p.shape[:2]) != tuple(size):
                p = tf.image.resize(p, size, method="bilinear").numpy()
            masks.append(np.argmax(p, axis=-1).astype(np.uint8))
        return items, masks

    def _write_files(self, items, masks, folder, masks_too, overlays, replace=False):
        """Writes `<name>_mask.png` / `<name>_overlay.png` per image; returns {"mask", "overlay"} paths per image."""
        from PIL import Image

        kinds = (["mask"] if masks_too else []) + (["overlay"] if overlays else [])
        paths = image_streams.output_paths(items, folder, kinds, replace=replace)
        palette = np.resize(PALETTE, (256, 3)).astype(np.uint8).ravel().tolist()
        for item, mask, files in zip(items, masks, paths):
            if "mask" in files:
                indexed = Image.fromarray(mask, mode="P")
                indexed.putpalette(palette)
                indexed.save(files["mask"])
            if "overlay" in files:
                image = image_streams.to_array(
                    [str(item) if isinstance(item, os.PathLike) else item], mask.shape, 3, False
                )[0]
                colours = PALETTE[mask % len(PALETTE)]
                blended = np.where(mask[..., None] > 0, 0.5 * image + 0.5 * colours, image).astype(np.uint8)
                _with_legend(Image.fromarray(blended), self.classes_).save(files["overlay"])
        self.say(f"Wrote {' and '.join(k + 's' for k in kinds)} of {len(masks)} image(s) to {folder}")
        return [{kind: str(path) for kind, path in files.items()} for files in paths]

    def search_space(self, hp):
        space = super().search_space(hp)
        space["loss"] = hp.Choice("loss", list(models.LOSSES))
        if self.backbone == "unet":
            space["width"] = hp.Choice("width", [8, 16, 32])
            space["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
        return space


def _with_legend(image, classes):
    """The overlay with a legend strip below it: each class's colour and name (class 0 is left uncoloured)."""
    from PIL import Image, ImageDraw

    labels = [f"{name} (not coloured)" if i == 0 else str(name) for i, name in enumerate(classes)]
    measure = ImageDraw.Draw(image)
    width = max(image.width, 20 + int(max(measure.textlength(label) for label in labels)))
    row = 14
    canvas = Image.new("RGB", (width, image.height + row * len(labels) + 4), (255, 255, 255))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, label in enumerate(labels):
        top = image.height + 2 + i * row
        colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)]) if i else (255, 255, 255)
        draw.rectangle([2, top + 1, 12, top + 11], fill=colour, outline=(0, 0, 0))
        draw.text((16, top), label, fill=(0, 0, 0))
    return canvas


def _are_paths(items):
    return not isinstance(items, data_lib.Stream) and len(items) > 0 and isinstance(items[0], (str, os.PathLike))


def _length(part):
    return len(part[0])


def _take(images, masks, positions):
    """The loaded (images, masks) at `positions`: a part of a Stream (its masks inside it), or parts of both."""
    if isinstance(images, data_lib.Stream):
        return images.part(positions), None
    return data_lib.take(images, positions), data_lib.take(masks, positions)


def _decode_mask(path, size):
    """A mask file read inside tf.data (PIL keeps palette indices, which TF's PNG decoder turns into colours),
    resized by nearest neighbour. The masks were checked before training, so this does not raise."""
    mask = tf.numpy_function(lambda p: seg_data.read_mask(p.decode()), [path], tf.uint8, stateful=False)
    mask = tf.ensure_shape(mask, (None, None))
    return tf.cast(tf.image.resize(mask[..., None], size, method="nearest")[..., 0], tf.uint8)


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
