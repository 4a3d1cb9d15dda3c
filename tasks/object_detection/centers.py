"""Center-point detection (CenterNet, Zhou et al. 2019, with TTFNet's box-shaped Gaussians): the targets a
from-scratch detector learns, its loss, and boxes back from its outputs.

An object is the peak of a per-class heatmap at its box's center cell (the image seen at 1/`stride`
resolution), plus its width and height and the center's sub-cell offset read at that cell. Decoding
keeps the local maxima above a score threshold (a 3x3 max-pool), and then per-class non-max suppression
(an argument; CenterNet itself needs little of it).

Written by hand: KerasHub's detectors are anchor-based (RetinaNet) and train far too slowly from
scratch on a CPU (0.04 mAP after two epochs at 12 s a step on raccoon), and no Keras library ships an
anchor-free center-point head.
"""

import tensorflow as tf

STRIDE = 4
TTF_ALPHA = 0.54  # TTFNet: the Gaussian's standard deviation is alpha * side / 6
MIN_SIGMA = 0.5  # cells; keeps tiny boxes' peaks from being a single spike


def encode(boxes, labels, image_size, num_classes, stride=STRIDE):
    """One image's boxes -> its targets (runs inside tf.data).

    Args:
        boxes: (m, 4) xyxy pixels of the `image_size` x `image_size` image.
        labels: (m,) class indices, -1 for padding.

    Returns:
        {"heatmap": (g, g, classes), "size": (g, g, 2) width and height in cells, "offset": (g, g, 2)
        center minus its cell, "mask": (g, g, 1) 1 at each box's center cell}, g = image_size // stride.
    """
    cells = image_size // stride
    keep = labels >= 0
    boxes, labels = tf.boolean_mask(tf.cast(boxes, tf.float32), keep), tf.boolean_mask(tf.cast(labels, tf.int32), keep)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / (2.0 * stride), (boxes[:, 1] + boxes[:, 3]) / (2.0 * stride)
    w, h = (boxes[:, 2] - boxes[:, 0]) / stride, (boxes[:, 3] - boxes[:, 1]) / stride
    ix = tf.clip_by_value(tf.floor(cx), 0.0, cells - 1.0)
    iy = tf.clip_by_value(tf.floor(cy), 0.0, cells - 1.0)
    sx = tf.maximum(TTF_ALPHA * w / 6.0, MIN_SIGMA)[:, None, None]
    sy = tf.maximum(TTF_ALPHA * h / 6.0, MIN_SIGMA)[:, None, None]
    grid = tf.range(cells, dtype=tf.float32)
    gauss = tf.exp(
        -((grid[None, None, :] - ix[:, None, None]) ** 2) / (2.0 * sx**2)
        - ((grid[None, :, None] - iy[:, None, None]) ** 2) / (2.0 * sy**2)
    )  # (m, g, g): rows are y, columns x
    per_class = gauss[..., None] * tf.one_hot(labels, num_classes)[:, None, None, :]
    heatmap = tf.reduce_max(tf.concat([tf.zeros((1, cells, cells, num_classes)), per_class], axis=0), axis=0)
    where = tf.cast(tf.stack([iy, ix], axis=1), tf.int32)
    zeros2 = tf.zeros((cells, cells, 2))
    return {
        "heatmap": heatmap,
        "size": tf.tensor_scatter_nd_update(zeros2, where, tf.stack([w, h], axis=1)),
        "offset": tf.tensor_scatter_nd_update(zeros2, where, tf.stack([cx - ix, cy - iy], axis=1)),
        "mask": tf.tensor_scatter_nd_update(tf.zeros((cells, cells, 1)), where, tf.ones((tf.shape(where)[0], 1))),
    }


def heatmap_loss(target, logits):
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), summed and divided by the number of
    objects (at least 1), per image."""
    p = tf.clip_by_value(tf.sigmoid(logits), 1e-4, 1.0 - 1e-4)
    positive = tf.cast(target >= 1.0 - 1e-6, tf.float32)
    loss = -positive * (1.0 - p) ** 2 * tf.math.log(p) - (1.0 - positive) * (1.0 - target) ** 4 * p**2 * tf.math.log(
        1.0 - p
    )
    objects = tf.maximum(tf.reduce_sum(positive, axis=[1, 2, 3]), 1.0)
    return tf.reduce_sum(loss, axis=[1, 2, 3]) / objects


def masked_l1(target, predicted, mask):
    """L1 at the objects' center cells only, divided by their number (at least 1), per image."""
    total = tf.reduce_sum(tf.abs(target - predicted) * mask, axis=[1, 2, 3])
    return total / tf.maximum(tf.reduce_sum(mask, axis=[1, 2, 3]), 1.0)


def decode(heatmap, size, offset, score_threshold=0.3, max_detections=100, iou_threshold=0.5, stride=STRIDE):
    """Batched outputs -> boxes (batch, max_detections, 4) xyxy pixels, scores and labels (-1 where
    there is none), and the number of detections per image.

    Args:
        heatmap: (batch, g, g, classes) probabilities (after the sigmoid).
        size, offset: (batch, g, g, 2) as `encode` makes them.
        score_threshold: the least score a detection keeps.
        max_detections: detections an image may have.
        iou_threshold: per-class non-max suppression's overlap limit; None: no suppression.
    """
    batch, cells, classes = tf.shape(heatmap)[0], tf.shape(heatmap)[1], tf.shape(heatmap)[3]
    peaks = tf.cast(tf.equal(heatmap, tf.nn.max_pool2d(heatmap, 3, 1, "SAME")), heatmap.dtype) * heatmap
    flat = tf.reshape(peaks, (batch, -1))
    k = tf.minimum(max_detections, tf.shape(flat)[1])
    scores, index = tf.math.top_k(flat, k=k)
    label = index % classes
    cell = index // classes
    iy, ix = cell // cells, cell % cells
    gather = lambda maps: tf.gather(tf.reshape(maps, (batch, -1, 2)), cell, batch_dims=1)  # noqa: E731
    wh, off = gather(size), gather(offset)
    cx = (tf.cast(ix, tf.float32) + off[..., 0]) * stride
    cy = (tf.cast(iy, tf.float32) + off[..., 1]) * stride
    w, h = wh[..., 0] * stride, wh[..., 1] * stride
    boxes = tf.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    if iou_threshold is None:
        keep = scores >= score_threshold
        count = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1)
        return {
            "boxes": tf.where(keep[..., None], boxes, 0.0),
            "scores": tf.where(keep, scores, 0.0),
            "labels": tf.where(keep, label, -1),
            "count": count,
        }
    # Per-class suppression: each detection's box in its own class slot (combined_non_max_suppression's q).
    yxyx = tf.stack([boxes[..., 1], boxes[..., 0], boxes[..., 3], boxes[..., 2]], axis=-1)
    per_class_scores = tf.one_hot(label, classes) * scores[..., None]
    nmsed = tf.image.combined_non_max_suppression(
        yxyx[:, :, None, :],
        per_class_scores,
        max_output_size_per_class=max_detections,
        max_total_size=max_detections,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        clip_boxes=False,
    )
    count = nmsed.valid_detections
    valid = tf.range(max_detections)[None, :] < count[:, None]
    b = nmsed.nmsed_boxes
    return {
        "boxes": tf.where(valid[..., None], tf.stack([b[..., 1], b[..., 0], b[..., 3], b[..., 2]], axis=-1), 0.0),
        "scores": tf.where(valid, nmsed.nmsed_scores, 0.0),
        "labels": tf.where(valid, tf.cast(nmsed.nmsed_classes, tf.int32), -1),
        "count": count,
    }


def decode_outputs(outputs, score_threshold, max_detections, iou_threshold):
    """`decode` of the detector's raw outputs ({"heatmap" logits, "size", "offset"})."""
    return decode(
        tf.sigmoid(outputs["heatmap"]), outputs["size"], outputs["offset"], score_threshold=score_threshold,
        max_detections=max_detections, iou_threshold=iou_threshold,
    )  # fmt: skip
