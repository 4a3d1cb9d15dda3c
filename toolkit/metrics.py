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
