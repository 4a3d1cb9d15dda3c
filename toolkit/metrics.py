"""Task metrics Keras does not report, computed with scikit-learn."""

import numpy as np


def classification_metrics(labels, probabilities, class_names):
    """Accuracy, top-5 accuracy (more than 5 classes), macro F1, loss, per-class scores, confusion matrix.

    Args:
        labels: true class indices, shape (N,).
        probabilities: predicted class probabilities, shape (N, num_classes).
        class_names: names in index order.

    Returns:
        A JSON-ready dict.

    Example:
    >>> m = classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), ["a", "b"])
    >>> m["accuracy"], m["confusion_matrix"]
    (1.0, [[1, 0], [0, 1]])
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(axis=-1)
    indices = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=indices, zero_division=0)
    true_probability = probabilities[np.arange(len(labels)), labels]
    metrics = {
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(f1.mean()),
        "loss": float(-np.log(np.clip(true_probability, 1e-7, 1.0)).mean()),
    }
    if len(class_names) > 5:
        top5 = np.argsort(-probabilities, axis=-1)[:, :5]
        metrics["top_5_accuracy"] = float((top5 == labels[:, None]).any(axis=-1).mean())
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
