"""Object detection's scores: COCO's reference evaluation (pycocotools' COCOeval), not a re-implementation,
and the score threshold chosen on validation data."""

import numpy as np


def detection_scores(ground_truth, detections, class_names, score_threshold=None):
    """COCO box metrics through pycocotools' COCOeval (the reference implementation).

    Args:
        ground_truth: per image (boxes, labels) or (boxes, labels, crowd): absolute [xmin, ymin, xmax,
            ymax] boxes, (n, 4), their class indices (n,), and optionally COCO's `iscrowd` flags (n,):
            a crowd region is no object to find, and detections inside it are ignored (COCOeval's rule).
            An image may have no boxes.
        detections: per image (boxes, labels, scores), the same layout plus a score per box.
        class_names: names by class index, for the per-class results.
        score_threshold: also score the detections a user is shown, those with at least this score:
            `precision_at_threshold`, `recall_at_threshold` and `f1_at_threshold`, a detection counting
            as right when COCOeval matched it to a box of its class at IoU >= 0.5.

    Returns:
        {"map" (mAP@[.5:.95]), "map_50", "map_75", "recall" (AR@100), "per_class": {name: {"ap",
        "ap_50", "recall"}}}, each from 0 to 1; a class without boxes anywhere is left out of the means
        (COCO's rule) and is None per class.

    Examples:
        >>> truth = [(np.array([[10, 10, 50, 50]]), np.array([0]))]
        >>> found = [(np.array([[10, 10, 50, 50], [60, 60, 90, 90]]), np.array([0, 0]), np.array([0.9, 0.2]))]
        >>> scores = detection_scores(truth, found, ["raccoon"], score_threshold=0.5)
        >>> round(scores["map"], 3), round(scores["map_50"], 3), round(scores["per_class"]["raccoon"]["ap"], 3)
        (1.0, 1.0, 1.0)
        >>> scores["precision_at_threshold"], scores["recall_at_threshold"]
        (1.0, 1.0)
        >>> crowd = [(np.array([[0, 0, 100, 100], [10, 10, 20, 20]]), np.array([0, 0]), np.array([1, 0]))]
        >>> inside = [(np.array([[10, 10, 20, 20], [50, 50, 70, 70]]), np.array([0, 0]), np.array([0.9, 0.8]))]
        >>> round(detection_scores(crowd, inside, ["person"])["map"], 6)  # the second one lies in the crowd region
        1.0
    """
    evaluation, present = _coco_evaluation(ground_truth, detections, class_names)
    per_class = {name: None if k not in present else {"ap": 0.0, "ap_50": 0.0, "recall": 0.0}
                 for k, name in enumerate(class_names)}  # fmt: skip
    if evaluation is None:  # COCOeval takes neither side empty: no boxes -> undefined; none found -> 0
        value = 0.0 if present else None
        scores = {"map": value, "map_50": value, "map_75": value, "recall": value, "per_class": per_class}
    else:
        scores = _summary(evaluation, present, class_names, per_class)
    if score_threshold is not None:
        scores.update(_operating_point(_matches(evaluation, ground_truth), score_threshold))
    return scores


def best_score_threshold(ground_truth, detections, class_names):
    """The score threshold at which the detections shown to a user have the best F1 (IoU >= 0.5, matched
    by COCOeval), with the precision, recall and F1 there; 0.5 when there is nothing to choose from.

    Examples:
        >>> truth = [(np.array([[10, 10, 50, 50]]), np.array([0]))]
        >>> found = [(np.array([[10, 10, 50, 50], [60, 60, 90, 90]]), np.array([0, 0]), np.array([0.9, 0.2]))]
        >>> best_score_threshold(truth, found, ["raccoon"])["score_threshold"]
        0.9
    """
    evaluation, _ = _coco_evaluation(ground_truth, detections, class_names)
    scores, right, boxes = _matches(evaluation, ground_truth)
    if not len(scores) or not boxes:
        return {"score_threshold": 0.5, **_operating_point((scores, right, boxes), 0.5)}
    order = np.argsort(-scores, kind="stable")
    scores, right = scores[order], right[order]
    true_positives = np.cumsum(right)
    precision = true_positives / np.arange(1, len(scores) + 1)
    recall = true_positives / boxes
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    # Only where the score changes: a threshold keeps every detection of its score.
    last = np.r_[scores[1:] != scores[:-1], True]
    best = int(np.flatnonzero(last)[np.argmax(f1[last])])
    threshold = float(scores[best])
    return {"score_threshold": threshold, **_operating_point((scores, right, boxes), threshold)}


def _coco_evaluation(ground_truth, detections, class_names):
    """(COCOeval after evaluate / accumulate / summarize, or None when either side is empty; the class
    indices that have boxes)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        x0, y0, x1, y1 = (float(v) for v in box)
        return [x0, y0, x1 - x0, y1 - y0]

    images, truth, found = [], [], []
    for image, (target, (d_boxes, d_labels, d_scores)) in enumerate(zip(ground_truth, detections)):
        images.append({"id": image})
        boxes, labels, crowd = _truth(target)
        for box, label, is_crowd in zip(boxes, labels, crowd):
            b = xywh(box)
            truth.append({"id": len(truth) + 1, "image_id": image, "category_id": int(label), "bbox": b,
                          "area": b[2] * b[3], "iscrowd": int(is_crowd)})  # fmt: skip
        for box, label, score in zip(np.reshape(d_boxes, (-1, 4)), np.reshape(d_labels, -1), np.reshape(d_scores, -1)):
            found.append({"image_id": image, "category_id": int(label), "bbox": xywh(box), "score": float(score)})
    present = {int(t["category_id"]) for t in truth if not t["iscrowd"]}
    if not truth or not found:
        return None, present
    with contextlib.redirect_stdout(io.StringIO()):  # COCO prints its progress and summary table
        coco = COCO()
        coco.dataset = {"images": images, "annotations": truth,
                        "categories": [{"id": k, "name": n} for k, n in enumerate(class_names)]}  # fmt: skip
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(found), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation, present


def _truth(target):
    """One image's (boxes (n, 4), labels (n,), crowd flags (n,)) from (boxes, labels[, crowd])."""
    boxes, labels = np.reshape(target[0], (-1, 4)), np.reshape(target[1], -1)
    crowd = np.reshape(target[2], -1).astype(bool) if len(target) > 2 else np.zeros(len(labels), bool)
    return boxes, labels, crowd


def _summary(evaluation, present, class_names, per_class):
    stats = evaluation.stats
    # precision: (IoU thresholds, recall points, classes, areas, max detections); -1 where undefined.
    precision, recall = evaluation.eval["precision"], evaluation.eval["recall"]
    classes = list(evaluation.params.catIds)
    for k, name in enumerate(class_names):
        if k not in present:
            continue
        c = classes.index(k)
        p_all, p_50, r = precision[:, :, c, 0, -1], precision[0, :, c, 0, -1], recall[:, c, 0, -1]
        per_class[name] = {
            "ap": float(p_all[p_all > -1].mean()) if (p_all > -1).any() else 0.0,
            "ap_50": float(p_50[p_50 > -1].mean()) if (p_50 > -1).any() else 0.0,
            "recall": float(r[r > -1].mean()) if (r > -1).any() else 0.0,
        }
    return {
        "map": max(0.0, float(stats[0])),
        "map_50": max(0.0, float(stats[1])),
        "map_75": max(0.0, float(stats[2])),
        "recall": max(0.0, float(stats[8])),
        "per_class": per_class,
    }


def _matches(evaluation, ground_truth):
    """(scores, matched at IoU 0.5, number of boxes) of every detection, from COCOeval's own matching
    (its per-image records over all areas), so no matching is written here."""
    boxes = sum(int((~_truth(target)[2]).sum()) for target in ground_truth)  # crowd regions are not to find
    if evaluation is None:
        return np.zeros(0), np.zeros(0, bool), boxes
    everywhere = evaluation.params.areaRng[0]
    scores, right = [], []
    for record in evaluation.evalImgs:
        if record is None or list(record["aRng"]) != list(everywhere):
            continue
        kept = ~np.asarray(record["dtIgnore"], bool)[0]
        scores.extend(np.asarray(record["dtScores"], float)[kept])
        right.extend(np.asarray(record["dtMatches"])[0][kept] > 0)
    return np.asarray(scores, float), np.asarray(right, bool), boxes


def _operating_point(matches, threshold):
    scores, right, boxes = matches
    shown = scores >= threshold
    found = int(np.sum(right & shown))
    precision = found / int(np.sum(shown)) if np.any(shown) else (1.0 if not boxes else 0.0)
    recall = found / boxes if boxes else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision_at_threshold": precision, "recall_at_threshold": recall, "f1_at_threshold": f1}
