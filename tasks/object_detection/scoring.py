"""Scoring detections: the callback that puts validation mAP in each epoch's logs, and the comparison with
the trivial detector (one whole-image box of each class in every image)."""

import warnings

import keras
import numpy as np
import tensorflow as tf

from tasks.object_detection import data as detection_data
from tasks.object_detection import detector, pipeline
from toolkit import callbacks, detection_metrics

SCORE_FLOOR = 0.01  # detections kept for mAP (COCO scores the whole ranking); the shown ones use score_threshold


def compare_with_whole_image(part, scores, task_name):
    """How a part's mAP@0.5 compares with the whole-image-box detector's (None without both); warns, with
    causes and what to try, when the run did no better."""
    trivial = scores.get("whole_image_baseline") or {}
    if scores.get("map_50") is None or trivial.get("map_50") is None:
        return None
    compared = {
        "part": part,
        "metric": "map_50",
        "value": scores["map_50"],
        "whole_image_baseline": trivial["map_50"],
        "better_than_baseline": bool(scores["map_50"] > trivial["map_50"]),
    }
    if compared["better_than_baseline"]:
        return compared
    compared["likely_causes"] = [
        "training ended before the detector learned to place boxes (a short budget, or early stopping)",
        "images too small for the objects (image_size)",
        "a learning rate that does not suit this network and data",
    ]
    compared["what_to_try"] = [
        "more epochs (--epochs) and more patience (--patience, --warmup-epochs)",
        "a larger --image-size",
        f"the learning-rate finder (toolkit lr-find {task_name} --data ...)",
        "a pretrained backbone (toolkit list backbones --task object-detection)",
    ]
    warnings.warn(
        f"This detector is no better than one whole-image box per class: {part} mAP@0.5 "
        f"{compared['value']:.4f} against {compared['whole_image_baseline']:.4f}. Likely causes: "
        f"{'; '.join(compared['likely_causes'])}. Try: {'; '.join(compared['what_to_try'])}. "
        'Recorded in metrics.json under "baseline".',
        stacklevel=4,
    )
    return compared


class ValidationMAP(callbacks.ValidationScores):
    """Puts the validation images' COCO mAP (`val_map`, the monitor) and mAP@0.5 (`val_map_50`) in each
    epoch's logs, for early stopping, checkpoints and the tuner."""

    def on_epoch_end(self, epoch, logs=None):
        truth, found = self.task._detect_part(self.model, self.validation)
        scores = detection_metrics.detection_scores(truth, found, self.task.classes_)
        if logs is not None:
            logs["val_map"] = scores["map"] or 0.0
            logs["val_map_50"] = scores["map_50"] or 0.0


def detect_part(model, part, decode, image_size, num_classes, losses=None):
    """(truth, detections) of a part, each per image in the training size's pixels (IoU, and so mAP,
    is the same as in the original pixels: both sides are scaled alike); `losses`, a list, gets the
    loss of each batch (times its size)."""
    truth, found = [], []
    if losses is None:
        batches = ((images, None, boxes) for images, boxes in part.dataset)
    else:  # the loss's targets encoded in the same pass over the data
        batches = pipeline.with_center_targets(part.dataset, image_size, num_classes, True)
        loss_fns = detector.losses()
    for images, targets, boxes in batches:
        outputs = model(images, training=False)
        if losses is not None:
            total = sum(float(keras.ops.mean(fn(targets[k], outputs[k]))) for k, fn in loss_fns.items())
            losses.append((total * len(images), len(images)))
        decoded = decode(outputs, SCORE_FLOOR)
        for i, count in enumerate(decoded["count"].numpy()):
            keep = boxes["labels"][i].numpy() != -1  # padding
            classes, crowd = detection_data.split_crowd(boxes["labels"][i].numpy()[keep])
            truth.append((boxes["boxes"][i].numpy()[keep], classes, crowd))
            found.append(
                (decoded["boxes"][i, :count].numpy(), decoded["labels"][i, :count].numpy(),
                 decoded["scores"][i, :count].numpy())
            )  # fmt: skip
    return truth, found


def whole_image_baseline(truth, classes, image_size):
    """mAP and mAP@0.5 of the trivial detector every report is compared with (a from-scratch detector can
    train to near-zero mAP unnoticed, keras-cv #2442): one whole-image box of each class in every image."""
    size = float(image_size)
    whole = np.array([[0.0, 0.0, size, size]] * len(classes), np.float32)
    trivial = [(whole, np.arange(len(classes)), np.ones(len(classes)))] * len(truth)
    # Its boxes all score 1, and COCO breaks ties by image order: the images go in an order of their
    # content, so the number does not depend on the order the data came in (a CSV's, a folder's).
    canonical = sorted(truth, key=lambda t: (len(t[1]), np.round(t[0], 2).tobytes(), t[1].tobytes()))
    baseline = detection_metrics.detection_scores(canonical, trivial, classes)
    return {"map": baseline["map"], "map_50": baseline["map_50"]}


def in_own_pixels(decoded, shapes, size, classes):
    """Decoded detections of a batch at the training `size` -> per image, a list of {"label", "score",
    "box": [xmin, ymin, xmax, ymax]} in the image's own pixels (`shapes`: each image's (height, width))."""
    results = []
    for i, (height, width) in enumerate(shapes):
        count = int(decoded["count"][i])
        scale = np.array([width / size, height / size] * 2, np.float32)
        boxes = np.clip(decoded["boxes"][i, :count].numpy() * scale, 0, [width, height, width, height])
        labels, scores = decoded["labels"][i, :count].numpy(), decoded["scores"][i, :count].numpy()
        results.append(
            [
                {
                    "label": classes[int(label)],
                    "score": round(float(score), 4),
                    "box": [round(float(v), 1) for v in box],
                }
                for box, label, score in zip(boxes, labels, scores)
            ]
        )
    return results


def choose_score_threshold(truth, found, classes):
    """The least score of a shown detection where the shown detections' F1 (IoU >= 0.5) is best on these
    images (at least `SCORE_FLOOR`), and a line saying so."""
    best = detection_metrics.best_score_threshold(truth, found, classes)
    threshold = max(SCORE_FLOOR, round(best["score_threshold"], 4))
    return threshold, (
        f"Score threshold {threshold:.3f}, chosen on the validation images: precision "
        f"{best['precision_at_threshold']:.3f}, recall {best['recall_at_threshold']:.3f} at IoU 0.5."
    )


def detect_images(model, items, size, decode, classes, batch_size):
    """Image paths or arrays -> per image, its detections in its own pixels (`in_own_pixels`); `model` is
    the traced inference call (`Task._inference_function`); `decode` turns the model's maps into boxes
    above the shown threshold."""
    from tasks.object_detection.figures import read_rgb

    results = []
    for start in range(0, len(items), batch_size):
        pixels, shapes = [], []
        for item in items[start : start + batch_size]:
            image = read_rgb(item)
            shapes.append(image.shape[:2])
            pixels.append(tf.image.resize(tf.cast(image, tf.float32), (size, size)).numpy())
        results += in_own_pixels(decode(model(np.stack(pixels))), shapes, size, classes)
    return results
