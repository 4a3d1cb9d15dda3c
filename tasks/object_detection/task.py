"""Object detection: `ObjectDetector` and `train_object_detector`."""

import os
import pathlib

import keras

from tasks.image_task import ImageTask
from tasks.object_detection import centers, detector, pipeline, scoring
from tasks.object_detection import data as detection_data
from tasks.object_detection import figures as figures_lib
from tasks.object_detection.preprocessor import DetectionPreprocessor, Part, index_of
from toolkit import data as data_lib
from toolkit import detection_metrics, estimator, image_files, preprocessing
from toolkit.saving import register_task

__all__ = ["Part", "ObjectDetector", "train_object_detector"]
DEFAULT_SCORE_THRESHOLD = 0.3  # CenterNet's display threshold: used when there is no validation data to choose on


@register_task
class ObjectDetector(ImageTask):
    """Finds objects in images: a box, a class and a score for each.

    The from-scratch detector is CenterNet-style (`centers`): a backbone, a feature pyramid back to 1/4
    of the image, and heads that mark each object's centre per class and read its size there. `predict`
    decodes boxes (per-class non-max suppression) in each image's own pixels.

    Args:
        backbone: "centernet" (from scratch, the default); a convolutional image backbone name
            ("vgg", "resnet", "mobilenet"); a KerasHub image backbone preset, handle or local preset
            folder (its feature pyramid, e.g. ResNet); or a `keras.Model` giving feature maps.
        image_size: the side images are resized to (a multiple of 32); default: the images' median
            longer side, at most 256.
        width: filters of the built-in backbone's first stage (the neck and heads have twice that).
        augment: training augmentations that move boxes with the pixels, from "flip", "zoom",
            "translate", "color" (empty: none).
        augment_strength: scales the augmentations' ranges (0.5: half the zoom, shift and colour change).
        score_threshold: the least score `predict` returns; None: where the shown detections' F1 (IoU
            >= 0.5) is best on validation (`score_threshold_`). mAP scores the whole ranking either way.
        iou_threshold: per-class non-max suppression's overlap limit (None: no suppression).
        max_detections: most detections per image.
        box_format: boxes given in Python or a tf.data.Dataset: "xyxy", "xywh", "center_xywh", "yxyx" in
            pixels, or "rel_..." as fractions (`keras.utils.bounding_boxes`' names).
        class_names: the class names in label-index order (YOLO labels and integer labels); default:
            the names the data carries.
        bad_boxes: "fail" on a box outside its image or without area, or "skip" it (counted in a warning).
        data_dir: TFDS data folder for "tfds:NAME" data.
        images_dir: the images' folder when not where the format keeps it (COCO: `train2017/` beside
            `annotations/`; VOC: `JPEGImages/` or `images/`; CSV or YOLO: `images/` beside them).
        epochs: most epochs; None: 30, raised from scratch on a small set to 1,000 steps (at most 200).
        **kwargs: the arguments every task shares (see `toolkit.Task`); the defaults here (AdamW, cosine
            decay from 2e-3, batch size 8) are the recipe measured on raccoon.

    Examples:
        >>> det = ObjectDetector(epochs=40).fit("raccoon/annotations")  # doctest: +SKIP
        >>> det.predict(["raccoon.jpg"])[0]  # doctest: +SKIP
        [{'label': 'raccoon', 'score': 0.83, 'box': [81.0, 22.4, 402.7, 380.1]}]
    """

    task_name = "object-detection"
    description = "find objects in images: boxes with class labels and scores"
    default_data = "shapes"
    data_forms = detection_data.DATA_FORMS
    built_in_data = {"shapes": "generated images of coloured shapes with their boxes (no download)"}
    monitor = "val_map"
    monitor_mode = "max"
    backbone_filters = ({"modality": "detection"}, {"modality": "image", "output": "feature_map"})
    keras_hub_task = "ObjectDetector"
    preprocessor_class = DetectionPreprocessor
    image_size_ = preprocessing.learned("image_size")  # one side: the images are square

    keras_hub_presets = classmethod(lambda cls: detector.pyramid_presets())  # those with a feature pyramid

    _parameter_constraints = {
        "image_size": estimator.Constraint(
            lambda size: size is None or (isinstance(size, int) and size >= 32 and size % 32 == 0),
            "a side that is a multiple of 32 (the backbone halves it five times), e.g. 256, or None",
        ),
        "score_threshold": estimator.in_range(0, 1, "a score from 0 to 1, or None", high_open=False, none=True),
        "iou_threshold": estimator.in_range(0, 1, "(0, 1] or None", low_open=True, high_open=False, none=True),
        "max_detections": estimator.Constraint(lambda v: v >= 1, "a positive number of detections per image"),
        "augment_strength": estimator.in_range(0, 3, "a number from 0 to 3 (1: the default ranges)", high_open=False),
        "bad_boxes": estimator.one_of(("fail", "skip")),
        "width": estimator.at_least(4, what="an integer (filters of the first stage)"),
    }

    def __init__(
        self,
        *,
        backbone: str | keras.Model = "centernet",
        image_size: int | None = None,
        width: int = 16,
        augment: tuple[str, ...] = ("flip", "zoom", "translate", "color"),
        augment_strength: float = 1.0,
        score_threshold: float | None = None,
        iou_threshold: float | None = 0.5,
        max_detections: int = 100,
        box_format: str = "xyxy",
        class_names: tuple[str, ...] | None = None,
        bad_boxes: str = "fail",
        data_dir: str | os.PathLike | None = None,
        images_dir: str | os.PathLike | None = None,
        epochs: int | None = None,
        batch_size: int = 8,
        learning_rate: float | None = 2e-3,
        optimizer: str | keras.optimizers.Optimizer = "adamw",
        learning_rate_schedule: str = "cosine",
        **kwargs,
    ):
        super().__init__(
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, optimizer=optimizer,
            learning_rate_schedule=learning_rate_schedule, **kwargs,
        )  # fmt: skip
        self.backbone = backbone
        self.image_size = image_size
        self.width = width
        self.augment = augment
        self.augment_strength = augment_strength
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.box_format = box_format
        self.class_names = class_names
        self.bad_boxes = bad_boxes
        self.data_dir = data_dir
        self.images_dir = images_dir

    # ------------------------------------------------------------------- data
    def _check_combinations(self):
        super()._check_combinations()
        detection_data.check_box_format(self.box_format)
        pipeline.augmentation_layers(tuple(self.augment), self.augment_strength)  # unknown names fail here

    def read_data(self, data, part="train"):
        source = detection_data.load_source(
            data, self.data_dir, self.box_format, self.class_names, self.bad_boxes, self.images_dir, part
        )
        return index_of(source, data_lib.describe(data))

    def make_preprocessor(self):
        options = dict(augment=tuple(self.augment), augment_strength=self.augment_strength, seed=self.seed)
        return DetectionPreprocessor(image_size=self.image_size, **options)

    def prepare_data(self, data, validation_data):
        self._check_backbone()
        validation_index = None
        if validation_data is None and detection_data.official_validation(data):
            # A dataset root's own validation part (COCO val2017, VOC val.txt, YOLO val).
            validation_index = self.read_data(data, part="val")
            validation_data = f"{data} (its official val part)"
        splits = super().prepare_data(data, validation_data, validation_index=validation_index)
        info = splits.info
        if not info["validation_examples"]:
            splits = splits._replace(validation=None)
        if isinstance(data, (str, os.PathLike)) and detection_data.layouts.describe(data):
            info["layout"] = detection_data.layouts.describe(data)
        more = "..." if len(self.classes_) > 8 else ""
        self.say(
            f"Object detection: {len(self.classes_)} classes ({', '.join(self.classes_[:8])}{more}), images at "
            f"{self.image_size_}x{self.image_size_}; {info['train_examples']} train images / "
            f"{info['validation_examples']} validation / {info['test_examples']} test."
        )
        return splits

    def keras_data(self, part):
        return pipeline.with_center_targets(part.dataset, self.image_size_, len(self.classes_))

    def evaluation_data(self, data):
        part = detection_data.layouts.scored_part(data)
        return self.preprocessor_.dataset(self.read_data(data, part), batch_size=self._global_batch_size())

    def export_examples(self, part):
        return next(iter(part.dataset))[0].numpy(), None

    # ------------------------------------------------------------------ model
    def build_model(self):
        return detector.build(self.backbone, self.image_size_, len(self.classes_), self.width, self._uses_preset())

    def _warmup_epochs(self):
        """`warmup_epochs`, or when None half the budget from scratch (none pretrained): a heatmap learned from
        zero scores mAP 0 for its first epochs (the shapes: 0 at epoch 2, 0.9 by 20)."""
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return 0 if self._pretrained_backbone() else self._epochs() // 2

    def compile_model(self, model, make_optimizer):
        model.compile(optimizer=make_optimizer(), loss=detector.losses())

    def task_callbacks(self, validation):
        return [scoring.ValidationMAP(self, validation)] if validation is not None else []

    def after_training(self, model, splits):
        """Chooses the score threshold on the validation images (when `score_threshold` is None)."""
        if self.score_threshold is not None:
            self.score_threshold_ = float(self.score_threshold)
            return
        if splits.validation is None:
            self.score_threshold_ = DEFAULT_SCORE_THRESHOLD
            return
        self.score_threshold_, said = scoring.choose_score_threshold(*self._detect_part(model, splits.validation),
                                                                    self.classes_)  # fmt: skip
        self.say(said)

    # ---------------------------------------------------------------- scoring
    def _shown_threshold(self):
        """The least score of a detection a user is shown: the one chosen (or given) at fit time."""
        chosen = [v for v in (getattr(self, "score_threshold_", None), self.score_threshold) if v is not None]
        return float(chosen[0]) if chosen else DEFAULT_SCORE_THRESHOLD

    def _decode(self, outputs, threshold):
        return centers.decode_outputs(outputs, threshold, self.max_detections, self.iou_threshold)

    def _detect_part(self, model, part, losses=None):
        return scoring.detect_part(model, part, self._decode, self.image_size_, len(self.classes_), losses)

    def score(self, part):
        losses = []
        truth, found = self._detect_part(self.model_, part, losses)
        threshold = self._shown_threshold()
        scores = detection_metrics.detection_scores(truth, found, self.classes_, score_threshold=threshold)
        scores["score_threshold"] = threshold
        scores["loss"] = sum(total for total, _ in losses) / max(1, sum(n for _, n in losses))
        scores["whole_image_baseline"] = scoring.whole_image_baseline(truth, self.classes_, self.image_size_)
        return scores

    def compare_with_baseline(self):
        """Records test mAP@0.5 (validation without a test part) beside the whole-image-box detector's."""
        part, scores = self._judged_part()
        compared = scoring.compare_with_whole_image(part, scores, self.task_name)
        if compared is not None:
            self.metrics_["baseline"] = compared

    # ------------------------------------------------------------- inference
    def decode_upload(self, name, data):
        """An uploaded image -> uint8 RGB at its own size (detection reads every image as RGB, `read_rgb`)."""
        return image_files.decode_bytes(data, name, 3)

    def predict(self, inputs, draw=False):
        """Finds objects in images.

        Args:
            inputs: an image file path, a list of paths, one image array (height, width[, channels]) or
                a batch / list of them, 0..255 pixels.
            draw: also write a copy of each image with its labelled boxes drawn, as PNG files in
                `<run_dir>/detections/` (True), or in the folder given (existing files are never
                overwritten).

        Returns:
            Per image, a list of {"label", "score", "box": [xmin, ymin, xmax, ymax]} in the image's own
            pixels, best first.
        """
        self.check_fitted()
        items = figures_lib.as_items(inputs)
        results = scoring.detect_images(
            self._inference_function(self.model_), items, self.image_size_,
            lambda out: self._decode(out, self._shown_threshold()),
            self.classes_, self._batch_size(),
        )  # fmt: skip
        if draw:
            own = draw is True
            folder = pathlib.Path(self.run_dir) / "detections" if own else pathlib.Path(draw)
            written = figures_lib.draw_detections(items, results, self.classes_, folder, replace=own)
            self.say(f"Wrote {len(written)} image(s) with their detections to {folder}")
        return results

    # ----------------------------------------------------------------- report
    def report_figures(self):
        return figures_lib.per_class(self.metrics_)

    def report_data_figures(self, part):
        return figures_lib.test_images(self.model_, part.dataset, self._decode, self._shown_threshold())

    def search_space(self, hp):
        """Shared rates, augmentation strength, a from-scratch backbone; not the score threshold, which every
        fit chooses on validation and which mAP (scoring the whole ranking) could not see."""
        space = super().search_space(hp)
        space["augment_strength"] = hp.Float("augment_strength", 0.0, 1.5, step=0.25)
        if isinstance(self.backbone, str) and self.backbone in self.accepted_backbones():
            space["backbone"] = hp.Choice("backbone", ["centernet", "mobilenet", "resnet"])
        return space


def train_object_detector(data=None, validation_data=None, **kwargs):
    """Trains an `ObjectDetector` (see its arguments) and returns it, fitted and saved.

    Args:
        data: VOC / COCO / YOLO / CSV annotations, (images, {"boxes", "labels"}), a tf.data.Dataset,
            "shapes" (the default, generated) or "tfds:NAME".
        validation_data: same forms; default a seeded split of `data`.
        **kwargs: `ObjectDetector` arguments.

    Examples:
        >>> import tempfile
        >>> det = train_object_detector(epochs=1, image_size=64, width=8, save_dir=tempfile.mkdtemp(), verbose=0)
        >>> det.classes_
        ['circle', 'square', 'triangle']
        >>> sorted(det.metrics_["validation"])[:4]
        ['f1_at_threshold', 'loss', 'map', 'map_50']
    """
    return ObjectDetector(**kwargs).fit(data, validation_data)
