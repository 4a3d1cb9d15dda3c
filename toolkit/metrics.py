"""Task metrics Keras does not report, computed with scikit-learn."""

import warnings

import numpy as np


def classification_metrics(labels, probabilities, class_names):
    """Accuracy, top-5 accuracy (more than 5 classes), macro F1, loss, per-class scores, confusion matrix.

    Args:
        labels: true class indices, shape (N,).
        probabilities: predicted class probabilities, shape (N, num_classes).
        class_names: names in index order.

    Returns:
        A JSON-ready dict.

    Examples:
        >>> m = classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), ["a", "b"])
        >>> m["accuracy"], m["confusion_matrix"]
        (1.0, [[1, 0], [0, 1]])
        >>> classification_metrics(np.array([0, 1]), np.eye(10)[[0, 1]], list("abcdefghij"))["macro_f1"]
        1.0
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(axis=-1)
    indices = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=indices, zero_division=0)
    true_probability = probabilities[np.arange(len(labels)), labels]
    metrics = {
        "accuracy": float((predicted == labels).mean()),
        # Over the classes present in truth or prediction (scikit-learn's macro average): a class the
        # evaluated data never mentions has no F1, and counting it as 0 would understate the score.
        "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
        "loss": float(-np.log(np.clip(true_probability, 1e-7, 1.0)).mean()),
    }
    if len(class_names) > 5:
        # Right when fewer than 5 classes score strictly higher than the true one: ties go to the true
        # class, so the number never depends on how a sort orders equal probabilities.
        higher = (probabilities > true_probability[:, None]).sum(axis=-1)
        metrics["top_5_accuracy"] = float((higher < 5).mean())
    metrics["per_class"] = {
        str(name): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    metrics["confusion_matrix"] = confusion_matrix(labels, predicted, labels=indices).tolist()
    return metrics


def confusion(labels, predicted, num_classes):
    """Pixel confusion matrix (rows: truth, columns: prediction) of integer label arrays of any shape.

    Examples:
        >>> confusion(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]]), 2).tolist()
        [[1, 0], [1, 2]]
    """
    labels = np.asarray(labels, dtype=np.int64).ravel()
    predicted = np.asarray(predicted, dtype=np.int64).ravel()
    return np.bincount(labels * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)


def segmentation_metrics(confusion_matrix, class_names, loss=None):
    """Pixel accuracy, per-class IoU and Dice, their means over classes, from a pixel confusion matrix.

    Classes absent from both truth and prediction have no IoU (None) and are
    left out of the means, as in torchmetrics / pycocotools-style evaluation.

    Examples:
        >>> m = segmentation_metrics(np.array([[1, 0], [1, 2]]), ["bg", "cell"])
        >>> m["pixel_accuracy"], m["per_class"]["cell"]["iou"], round(m["mean_iou"], 4), round(m["dice"], 4)
        (0.75, 0.6667, 0.5833, 0.7333)
    """
    matrix = np.asarray(confusion_matrix, dtype=np.float64)
    true_positive = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - true_positive
    both = matrix.sum(axis=0) + matrix.sum(axis=1)
    per_class, ious, dices = {}, [], []
    for i, name in enumerate(class_names):
        iou = true_positive[i] / union[i] if union[i] else None
        dice = 2 * true_positive[i] / both[i] if both[i] else None
        per_class[str(name)] = {
            "iou": None if iou is None else round(float(iou), 4),
            "dice": None if dice is None else round(float(dice), 4),
            "pixels": int(matrix[i].sum()),
        }
        if iou is not None:
            ious.append(iou)
            dices.append(dice)
    metrics = {
        "pixel_accuracy": float(true_positive.sum() / max(matrix.sum(), 1)),
        "mean_iou": float(np.mean(ious)) if ious else 0.0,
        "dice": float(np.mean(dices)) if dices else 0.0,
    }
    if loss is not None:
        metrics["loss"] = float(loss)
    metrics["per_class"] = per_class
    metrics["confusion_matrix"] = matrix.astype(np.int64).tolist()
    return metrics


def error_rates(references, hypotheses):
    """Corpus character and word error rates: edit distance over the total reference length.

    Uses `tf.edit_distance` (Levenshtein) on characters and on whitespace-split words.
    Both sides are normalised for case and spacing only (lower case, one space
    between words); every other character of a reference counts as written,
    including characters the model cannot produce.

    Examples:
        >>> m = error_rates(["three one four", "two"], ["three one for", "two"])
        >>> round(m["cer"], 4), round(m["wer"], 4)
        (0.0588, 0.25)
        >>> round(error_rates(["Two  Five!"], ["two five"])["cer"], 4)  # the "!" counts (1 of 9); case and spaces do not
        0.1111
    """
    import tensorflow as tf

    normalise = lambda text: " ".join(text.lower().split())  # noqa: E731
    references = [normalise(r) for r in references]
    hypotheses = [normalise(h) for h in hypotheses]

    def distance(split):
        truth = split(tf.constant(list(references), tf.string)).to_sparse()
        guess = split(tf.constant(list(hypotheses), tf.string)).to_sparse()
        return float(tf.reduce_sum(tf.edit_distance(guess, truth, normalize=False)))

    chars = lambda t: tf.strings.unicode_split(t, "UTF-8")  # noqa: E731
    words = lambda t: tf.strings.split(t)  # noqa: E731
    total_chars = sum(len(r) for r in references)
    total_words = sum(len(r.split()) for r in references)
    return {
        "cer": distance(chars) / max(total_chars, 1),
        "wer": distance(words) / max(total_words, 1),
        "exact_match": float(np.mean([r == h for r, h in zip(references, hypotheses)])) if references else 0.0,
    }


def versus_majority(metrics):
    """How a classifier's accuracy compares with always answering the most common true class, from its
    confusion matrix (rows: truth); None for metrics without one.

    Not better means within three standard errors of that baseline (a binomial proportion over
    the matrix's count): the validation score is the best of many epochs, picked on that same
    data, so a run that learned nothing often lands two errors above it by luck (measured: 0.34
    against 0.25 on 100 validation images, with 0.25 on the test images).

    Examples:
        >>> versus_majority({"accuracy": 0.3, "confusion_matrix": [[10, 20], [15, 55]]})["better_than_majority"]
        False
        >>> versus_majority({"pixel_accuracy": 0.95, "confusion_matrix": [[500, 20], [30, 450]]})["majority_share"]
        0.52
    """
    matrix = metrics.get("confusion_matrix") if metrics else None
    name = "accuracy" if "accuracy" in (metrics or {}) else "pixel_accuracy"
    if matrix is None or name not in metrics:
        return None
    matrix = np.asarray(matrix, dtype=np.float64)
    count = matrix.sum()
    share = float(matrix.sum(axis=1).max() / count)
    margin = max(0.01, 3 * float(np.sqrt(share * (1 - share) / count)))
    return {
        "metric": name,
        "value": float(metrics[name]),
        "majority_share": round(share, 4),
        "margin": round(margin, 4),
        "better_than_majority": bool(metrics[name] > share + margin),
    }


def judged_part(metrics):
    """("test", its scores) when a run's `metrics` have a test part, else ("validation", its scores): the
    part a run is compared with its trivial baseline on. The validation part chose the checkpoint (and any
    threshold), so its score flatters the run; the test part was seen only at the end."""
    if metrics.get("test"):
        return "test", metrics["test"]
    return "validation", metrics.get("validation") or {}


def compare_with_majority(metrics, task_name, image_task=False):
    """Records in `metrics["baseline"]` how test accuracy (validation without a test part) compares with
    always answering the most common class, and warns, with causes and what to try, when the run did no
    better. Does nothing for metrics without a confusion matrix."""
    part, scores = judged_part(metrics)
    compared = versus_majority(scores)
    if compared is None:
        return
    compared = {"part": part, **compared}
    metrics["baseline"] = compared
    if compared["better_than_majority"]:
        return
    compared["likely_causes"] = [
        "training ended before the network started to learn (a short budget, or early stopping)",
        "a learning rate that does not suit this network and data",
        "too little data for a network trained from scratch",
    ]
    compared["what_to_try"] = [
        "more epochs (--epochs) and more patience (--patience, --warmup-epochs)",
        f"the learning-rate finder (toolkit lr-find {task_name} --data ...)",
        f"a pretrained backbone (toolkit list backbones --task {task_name})",
    ]
    if image_task:
        compared["what_to_try"].append("a smaller --image-size (fewer inputs for a small data set)")
    warnings.warn(
        f"This run is no better than always answering the most common class: {part} "
        f"{compared['metric']} {compared['value']:.4f} against {compared['majority_share']:.4f} "
        f"(within {compared['margin']:.4f}). Likely causes: {'; '.join(compared['likely_causes'])}. "
        f'Try: {"; ".join(compared["what_to_try"])}. Recorded in metrics.json under "baseline".',
        stacklevel=4,
    )


# --------------------------------------------------------------- extractive question answering
# Written out because the official SQuAD script is not a package, and the maintained port
# (Hugging Face `evaluate`) downloads its metric code at run time (evaluate #315); these follow the
# official v2.0 script (normalize_answer, compute_exact, compute_f1, find_best_thresh) line for line.


def normalize_answer(text):
    """SQuAD's answer normalisation: lower case, no punctuation, no articles (a, an, the), single spaces.

    Examples:
        >>> normalize_answer("The  Norman-French, Army!")
        'normanfrench army'
    """
    import re
    import string

    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_exact(reference, prediction):
    """1 when the normalised answers are equal, else 0 (the official `compute_exact`).

    Examples:
        >>> answer_exact("the Eiffel Tower", "Eiffel tower."), answer_exact("Paris", "in Paris")
        (1, 0)
    """
    return int(normalize_answer(reference) == normalize_answer(prediction))


def answer_f1(reference, prediction):
    """Token-overlap F1 of the normalised answers; an empty answer scores 1 only against an empty one
    (the official `compute_f1`).

    Examples:
        >>> round(answer_f1("the Norman conquest of England", "Norman conquest"), 4)
        0.6667
        >>> answer_f1("", ""), answer_f1("", "France"), answer_f1("France", "")
        (1, 0, 0)
    """
    import collections

    reference_tokens = normalize_answer(reference).split()
    predicted_tokens = normalize_answer(prediction).split()
    if not reference_tokens or not predicted_tokens:
        return int(reference_tokens == predicted_tokens)
    common = collections.Counter(reference_tokens) & collections.Counter(predicted_tokens)
    same = sum(common.values())
    if same == 0:
        return 0
    precision = same / len(predicted_tokens)
    recall = same / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(references, predictions):
    """SQuAD v2.0 scores in percent: `exact_match`, `f1`, and over answerable and unanswerable questions
    apart, `has_answer_exact`, `has_answer_f1`, `no_answer_exact`, `no_answer_f1`, with their counts.

    Args:
        references: per question, the list of reference answer texts; an empty list (or only empty
            texts) when it has no answer. The best over the references counts. A question with a
            non-empty reference is answerable even when that reference normalises to nothing ("The",
            "."): the official script's rule (`has_ans = bool(answers)`).
        predictions: per question, the predicted text ("" for "no answer").

    Examples:
        >>> s = squad_scores([["France"], ["Rollo", "Rollo of Normandy"], []], ["France", "Rollo of", ""])
        >>> round(s["exact_match"], 2), round(s["f1"], 2), s["has_answer_exact"], s["no_answer_f1"], s["no_answer_count"]
        (66.67, 93.33, 50.0, 100.0, 1)
        >>> squad_scores([["The"]], [""])["has_answer_count"]  # answerable, though "The" normalises to nothing
        1
    """
    exact, f1, answerable = _per_question(references, predictions)
    scores = {"exact_match": _percent(exact), "f1": _percent(f1)}
    for name, chosen in (("has_answer", answerable), ("no_answer", ~answerable)):
        scores[f"{name}_exact"] = _percent(exact[chosen])
        scores[f"{name}_f1"] = _percent(f1[chosen])
        scores[f"{name}_count"] = int(chosen.sum())
    return scores


def best_no_answer_threshold(references, predictions, no_answer_scores):
    """The threshold on `no_answer_scores` that maximises F1 when a question whose score is above it gets
    "no answer" (the official `find_best_thresh`, for F1), and that F1 in percent.

    Args:
        references: per question, its reference texts (empty: unanswerable).
        predictions: per question, the best non-empty answer the model found.
        no_answer_scores: per question, how much likelier "no answer" is than that answer (higher: rather none).

    Returns:
        (threshold, f1): answer when the score is at most the threshold. With no unanswerable question
        the threshold answers everything.

    Examples:
        >>> refs = [["France"], [], ["Rollo"], []]
        >>> threshold, f1 = best_no_answer_threshold(refs, ["France", "Paris", "Rollo", "Seine"], [-3.0, 2.0, 0.5, 1.0])
        >>> threshold, f1
        (0.75, 100.0)
    """
    _, answered, answerable = _per_question(references, predictions)
    scores = np.asarray(no_answer_scores, dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    unanswered = np.where(answerable, 0.0, 1.0)  # each question's F1 when the model says "no answer"
    # Threshold below every score: all "no answer"; each step up answers one more question.
    total = unanswered.sum()
    best_total, best_threshold = total, scores[order[0]] - 1.0
    for rank, i in enumerate(order):
        total += answered[i] - unanswered[i]
        tied = rank + 1 < len(order) and scores[order[rank + 1]] == scores[i]
        if not tied and total > best_total:
            following = scores[order[rank + 1]] if rank + 1 < len(order) else scores[i] + 2.0
            best_total, best_threshold = total, (scores[i] + following) / 2
    return float(best_threshold), float(100.0 * best_total / max(len(scores), 1))


def _per_question(references, predictions):
    exact, f1, answerable = [], [], []
    for refs, prediction in zip(references, predictions, strict=True):
        answerable.append(any(str(r) != "" for r in refs))  # the official `bool(qa["answers"])`
        refs = [r for r in refs if normalize_answer(r)] or [""]
        exact.append(max(answer_exact(r, prediction) for r in refs))
        f1.append(max(answer_f1(r, prediction) for r in refs))
    return np.array(exact, np.float64), np.array(f1, np.float64), np.array(answerable, bool)


def _percent(values):
    return float(100.0 * values.mean()) if len(values) else 0.0


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
