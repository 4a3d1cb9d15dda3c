"""What a table network is held against on the same split, every run: scikit-learn's
HistGradientBoosting (the model that usually wins on small tables) and the trivial answer (the
majority class, the training mean); the scores both families report; permutation importance.
"""

import numpy as np
import pandas as pd

from tasks.tables import columns as columns_lib
from toolkit.metrics import classification_metrics


def classification_scores(labels, probabilities, classes):
    """`toolkit.metrics.classification_metrics` plus log loss and, for two classes, ROC AUC.

    Examples:
        >>> s = classification_scores(np.array([0, 1, 1]), np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), ["a", "b"])
        >>> round(s["accuracy"], 4), s["roc_auc"], round(s["log_loss"], 4)
        (0.6667, 1.0, 0.4987)
    """
    from sklearn.metrics import roc_auc_score

    scores = classification_metrics(labels, probabilities, classes)
    scores["log_loss"] = scores["loss"]
    if len(classes) == 2 and len(set(np.asarray(labels).tolist())) == 2:
        scores["roc_auc"] = float(roc_auc_score(labels, np.asarray(probabilities)[:, 1]))
    return scores


def regression_scores(truth, predicted, loss=None):
    """MAE, RMSE, R2 and MAPE (scikit-learn's), and the training loss when given.

    Examples:
        >>> s = regression_scores(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 4.0]))
        >>> round(s["mae"], 4), round(s["rmse"], 4), round(s["r2"], 4), round(s["mape"], 4)
        (0.3333, 0.5774, 0.7857, 0.1667)
    """
    from sklearn import metrics

    truth, predicted = np.asarray(truth, np.float64), np.asarray(predicted, np.float64)
    scores = {
        "mae": float(metrics.mean_absolute_error(truth, predicted)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(truth, predicted))),
        "r2": float(metrics.r2_score(truth, predicted)) if len(truth) > 1 else float("nan"),
        "mape": float(metrics.mean_absolute_percentage_error(truth, predicted)),
    }
    if loss is not None:
        scores["loss"] = float(loss)
    return scores


def features(frame, plan):
    """The columns as gradient boosting reads them: numbers (NaN kept: it handles gaps itself), categories
    as pandas categoricals of the learned vocabulary (an unseen one is missing), dates as year, month,
    weekday, day and hour; free text is left out (gradient boosting takes no words)."""
    values = columns_lib.model_values(frame, [c for c in plan if c["type"] != "text"])
    table = {}
    for column in plan:
        name, kind = column["name"], column["type"]
        if kind == "numeric":
            table[name] = values[columns_lib.input_name(column)]
        elif kind in ("categorical", "boolean"):
            table[name] = pd.Categorical(values[columns_lib.input_name(column)], categories=column["vocabulary"])
        elif kind == "date":
            moments = pd.to_datetime(pd.Series(values[columns_lib.input_name(column)]).replace("", None))
            for part in ("year", "month", "day", "hour"):
                table[f"{name}/{part}"] = getattr(moments.dt, part).to_numpy(np.float64)
            table[f"{name}/weekday"] = moments.dt.weekday.to_numpy(np.float64)
    return pd.DataFrame(table)


def fit_reference(parts, plan, kind, classes=None, log_target=False, seed=0):
    """HistGradientBoosting (scikit-learn's defaults, seeded) fitted on the training part and scored on the
    validation and test parts: {"name", "left_out", "validation", "test"}; and the trivial answer's scores.
    A streamed table's parts are read as bounded samples (said in the name)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from tasks.tables.preprocessor import part_sample

    frame, train_y = part_sample(parts["train"], seed=seed)
    x = features(frame, plan)
    if kind == "classification":
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
        train_y = _indices(train_y, classes)
        model.fit(x, train_y)
    else:
        model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
        train_y = np.asarray(train_y, np.float64)
        model.fit(x, np.log1p(train_y) if log_target else train_y)
    reference = {
        "name": f"{type(model).__name__} (scikit-learn defaults)",
        "left_out": [c["name"] for c in plan if c["type"] == "text"],
    }
    if len(train_y) < len(parts["train"].targets):
        reference["name"] += (
            f", on samples of each part ({len(train_y):,} of {len(parts['train'].targets):,} training rows)"
        )
    trivial = {"name": "majority class" if kind == "classification" else "training mean"}
    for name in ("validation", "test"):
        part = parts.get(name)
        if part is None or len(part.targets) == 0:
            reference[name] = trivial[name] = None
            continue
        frame, targets = part_sample(part, seed=seed)
        x = features(frame, plan)
        if kind == "classification":
            labels = _indices(targets, classes)
            reference[name] = _short(classification_scores(labels, _all_classes(model, x, len(classes)), classes))
            majority = np.bincount(train_y, minlength=len(classes))
            constant = np.tile(majority / majority.sum(), (len(labels), 1))
            trivial[name] = _short(classification_scores(labels, constant, classes))
        else:
            predicted = model.predict(x)
            truth = np.asarray(targets, np.float64)
            reference[name] = regression_scores(truth, np.expm1(predicted) if log_target else predicted)
            trivial[name] = regression_scores(truth, np.full(len(truth), train_y.mean()))
    return reference, trivial


def _indices(targets, classes):
    position = {name: i for i, name in enumerate(classes)}
    return np.array([position[t] for t in targets], dtype=int)


def _all_classes(model, x, count):
    """Probabilities for every class, also those absent from the training part's labels."""
    probabilities = np.zeros((len(x), count))
    probabilities[:, model.classes_] = model.predict_proba(x)
    return probabilities


def _short(scores):
    return {k: v for k, v in scores.items() if k not in ("per_class", "confusion_matrix")}


class _Rows:
    """A fitted task as scikit-learn's `permutation_importance` calls it: a `fit` (never used) and a scorer."""

    def __init__(self, task):
        self.task = task

    def fit(self, x, y):  # scikit-learn checks the method is there; the task is trained already
        return self


def permutation_importance(task, frame, targets, repeats=5, seed=0):
    """Each feature column's drop in the score when its values are shuffled (scikit-learn's
    `permutation_importance` on the held-out rows): accuracy for classes, MAE for values.

    Returns:
        {"metric", "columns": {column: {"mean", "std"}}}, the most important first.
    """
    from sklearn.inspection import permutation_importance as permute

    names = [c["name"] for c in task.preprocessor_.plan]
    classify = task.preprocessor_.config["kind"] == "classification"

    def score(estimator, x, y):
        outputs = task._infer(task.preprocessor_.inputs(x))
        if classify:
            return float((np.argmax(outputs, axis=-1) == y).mean())
        return -float(np.abs(outputs - y).mean())

    y = _indices(targets, task.classes_) if classify else np.asarray(targets, np.float64)
    result = permute(_Rows(task), frame[names].reset_index(drop=True), y, scoring=score, n_repeats=repeats,
                     random_state=seed)  # fmt: skip
    order = np.argsort(-result.importances_mean)
    return {
        "metric": "accuracy" if classify else "mae",
        "columns": {
            names[i]: {"mean": float(result.importances_mean[i]), "std": float(result.importances_std[i])}
            for i in order
        },
    }
