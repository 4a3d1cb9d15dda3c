"""The forecaster's report pictures: held-out series with the forecasts and intervals of their last folds,
the error at each step ahead, and the scores beside the seasonal-naive forecast's."""

import html

import numpy as np

from toolkit import figures

SHOWN = ("mae", "rmse", "mape", "smape", "mase", "coverage")
SERIES_SHOWN = 3


def error_by_step(metrics):
    """[(title, figure)]: the MAE at each step ahead on the held-out parts, and the comparison table."""
    parts = [(name, metrics.get(name)) for name in ("test", "validation") if metrics.get(name)]
    if not parts:
        return []
    plt = figures.pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.2))
    for name, scores in parts:
        steps = scores.get("mae_by_step") or []
        axis.plot(range(1, len(steps) + 1), [np.nan if v is None else v for v in steps], marker="o", label=name)
    naive = (metrics.get("reference") or {}).get(parts[0][0]) or {}
    if naive.get("mae") is not None:
        axis.axhline(naive["mae"], color="grey", linestyle="--", label=f"seasonal naive ({parts[0][0]}, all steps)")
    axis.set_xlabel("steps ahead")
    axis.set_ylabel("mean absolute error")
    axis.legend()
    figure.tight_layout()
    return [("Error by step ahead", figure), ("Scores beside the seasonal-naive forecast", comparison_table(metrics))]


def comparison_table(metrics):
    """An HTML table: a row per score, a column for this network and the seasonal-naive forecast on each
    held-out part."""
    reference = metrics.get("reference") or {}
    parts = [part for part in ("test", "validation") if metrics.get(part)]
    columns = [(f"{part}: {label}", source.get(part) or {}) for part in parts
               for label, source in (("this network", metrics), ("seasonal naive", reference))]  # fmt: skip
    head = "<th>score</th>" + "".join(f"<th>{html.escape(name)}</th>" for name, _ in columns)
    cell = lambda v: f"{v:.4f}" if isinstance(v, float) else ""  # noqa: E731
    body = "".join(
        f"<tr><td>{key}</td>" + "".join(f"<td>{cell(scores.get(key))}</td>" for _, scores in columns) + "</tr>"
        for key in SHOWN
        if any(isinstance(scores.get(key), float) for _, scores in columns)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def forecast_figures(task, part):
    """[(title, figure)] for the first held-out series: the truth, and from origins a horizon apart over the
    part, the median forecast with its interval."""
    windows = part.windows
    if not len(windows):
        return []
    p = task.preprocessor_
    out = task._infer(windows.inputs())
    plt = figures.pyplot()
    shown = []
    for i in np.unique(windows.series)[:SERIES_SHOWN]:
        mine = np.flatnonzero(windows.series == i)
        first = next((w for w in mine if not np.isnan(windows.targets[w, 0, 0])), mine[0])
        start = windows.origins[first]
        folds = [w for w in mine if windows.origins[w] >= start and (windows.origins[w] - start) % p.horizon == 0]
        figure, axis = plt.subplots(figsize=(7, 3.2))
        lead = windows.history[first, :, 0]
        axis.plot(range(start - len(lead), start), lead, color="black", linewidth=1, label="observed")
        for n, w in enumerate(folds):
            steps = np.arange(windows.origins[w], windows.origins[w] + p.horizon)
            axis.plot(steps, windows.targets[w, :, 0], color="black", linewidth=1)
            axis.plot(steps, out[w, :, 0, 1], color="tab:blue", label="forecast" if n == 0 else None)
            axis.fill_between(steps, out[w, :, 0, 0], out[w, :, 0, 2], color="tab:blue", alpha=0.2,
                              label=f"{round(100 * task.interval)}% interval" if n == 0 else None)  # fmt: skip
        axis.set_xlabel("step")
        axis.set_ylabel(p.targets[0])
        axis.legend(loc="upper left")
        figure.tight_layout()
        name = p.ids[i] if i < len(p.ids) else str(i)
        shown.append((f"Series {name}: held-out forecasts" if len(p.ids) > 1 else "Held-out forecasts", figure))
    return shown
