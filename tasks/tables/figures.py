"""The table families' report pictures: the network beside gradient boosting and the trivial answer,
permutation importance, and predicted against true values for regression."""

import html

import numpy as np

from toolkit import figures

# The scores the comparison table shows, in this order, when a run has them.
SHOWN = ("accuracy", "macro_f1", "roc_auc", "log_loss", "mae", "rmse", "r2", "mape")


def reference_table(metrics):
    """An HTML table: one row per model (the network, gradient boosting, the trivial answer), one column per
    score of each part."""
    rows = []
    for label, source in (
        ("this network", metrics),
        ((metrics.get("reference") or {}).get("name", "gradient boosting"), metrics.get("reference") or {}),
        ((metrics.get("trivial") or {}).get("name", "trivial"), metrics.get("trivial") or {}),
    ):
        row = {"model": label}
        for part in ("test", "validation"):
            scores = source.get(part) or {}
            row.update({f"{part} {k}": scores[k] for k in SHOWN if isinstance(scores.get(k), float)})
        rows.append(row)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(k, '')))}</td>" for k in keys) + "</tr>" for row in rows
    )
    left_out = (metrics.get("reference") or {}).get("left_out")
    note = (
        f"<p>Gradient boosting leaves out the free-text column(s): {html.escape(', '.join(left_out))}.</p>"
        if left_out
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def _fmt(value):
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def importance_figure(importance):
    """Horizontal bars: each column's mean score drop when shuffled, with its spread over repeats."""
    plt = figures.pyplot()
    names = list(importance["columns"])[::-1]
    means = [importance["columns"][n]["mean"] for n in names]
    spreads = [importance["columns"][n]["std"] for n in names]
    figure, axis = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    axis.barh(names, means, xerr=spreads, color="tab:blue")
    axis.set_xlabel(f"{importance['metric']} lost when the column is shuffled")
    figure.tight_layout()
    return figure


def predicted_figure(truth, predicted, name):
    """Predicted against true values on held-out rows, with the line of perfect answers."""
    plt = figures.pyplot()
    figure, axis = plt.subplots(figsize=(4.6, 4.4))
    axis.scatter(truth, predicted, s=10, alpha=0.6)
    low, high = float(np.min([truth.min(), predicted.min()])), float(np.max([truth.max(), predicted.max()]))
    axis.plot([low, high], [low, high], color="grey", linewidth=1)
    axis.set_xlabel(f"true {name}")
    axis.set_ylabel(f"predicted {name}")
    figure.tight_layout()
    return figure
