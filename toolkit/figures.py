"""The pictures of a run: learning curves, confusion matrices, per-class bars, image grids, search plots.

A task draws its own with these (`Task.report_figures`, `Task.report_data_figures`); `run_contents`
gathers a fitted run's figures for `toolkit.report`, which only renders what it is handed.
"""

import csv
import html
import math
import pathlib

from toolkit import files, runs


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def run_contents(task, data_figures=None):
    """{title, metrics, figures, data_figures} of a fitted run for `toolkit.report.write_report`: the learning
    curves (from history.csv, which also holds epochs before an interruption), the task's own figures and
    the search's plots when the run tuned."""
    run_dir = pathlib.Path(task.run_dir)
    history = files.read_history(run_dir / runs.HISTORY_FILE)
    figures = []
    if history.get("loss"):
        figures.append(("Learning curves", learning_curves(history, task.monitor, task.monitor_mode)))
    figures += task.report_figures()
    trials = read_csv(run_dir / "trials.csv")
    if trials:
        figures.append(("Search: score against each hyperparameter", trial_plots(trials, task.monitor)))
    return {
        "title": f"{task.task_name}: {run_dir.name}",
        "metrics": getattr(task, "metrics_", None) or {},
        "figures": figures,
        "trials": trials,
        "data_figures": data_figures,
    }


def read_csv(path):
    """The rows of a CSV file as dicts ([] when it is missing)."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def learning_curves(history, monitor="val_loss", mode="min"):
    """Loss and the monitored metric per epoch, training and validation, the best epoch marked, and the
    learning rate (its halvings show as steps)."""
    plt = pyplot()
    epochs = [int(e) + 1 for e in history.get("epoch", range(len(history["loss"])))]
    metric = monitor[4:] if monitor.startswith("val_") else monitor
    if metric == "loss":  # the loss is monitored: show the task's headline metric beside it
        metric = next((k for k in ("accuracy", "mean_iou", "pixel_accuracy") if history.get(k)), "loss")
    panels = ["loss"] + ([metric] if metric != "loss" and history.get(metric) else []) + ["learning_rate"]
    panels = [p for p in panels if history.get(p) or history.get(f"val_{p}")]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    best = _best_epoch(history.get(monitor), mode)
    for axis, name in zip(axes[0], panels):
        for key, label in ((name, "training"), (f"val_{name}", "validation")):
            values = history.get(key)
            if values and name != "learning_rate":
                axis.plot(epochs, finite(values), marker=".", label=label)
        if name == "learning_rate":
            axis.step(epochs, finite(history[name]), where="post", color="tab:green")
            axis.set_yscale("log")
        if best is not None:
            axis.axvline(
                epochs[best], color="tab:red", linestyle="--", linewidth=1, label=f"best epoch ({epochs[best]})"
            )
        axis.set_title(name.replace("_", " "))
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        if name != "learning_rate":
            axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def transcripts_table(examples):
    """An HTML table of reference and transcript pairs; in the transcript, words (or, for text without
    spaces, characters) that differ from the reference are marked, and missing ones shown struck out."""
    import difflib

    rows = []
    for example in examples:
        truth, guess = str(example["truth"]), str(example["predicted"])
        words = " " in truth or " " in guess
        a, b = (truth.split(), guess.split()) if words else (list(truth), list(guess))
        joiner = " " if words else ""
        marked = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if op == "equal":
                marked.append(html.escape(joiner.join(b[j1:j2])))
                continue
            if i2 > i1:
                marked.append(f"<del>{html.escape(joiner.join(a[i1:i2]))}</del>")
            if j2 > j1:
                marked.append(f"<mark>{html.escape(joiner.join(b[j1:j2]))}</mark>")
        rows.append(f"<tr><td>{html.escape(truth)}</td><td>{joiner.join(marked)}</td></tr>")
    return (
        '<table class="text"><thead><tr><th>reference</th><th>transcript (<mark>wrong</mark>, <del>missing</del>)'
        f"</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def confusion_figure(matrix, classes):
    """A confusion matrix as a heat map with counts (rows: true class, columns: predicted)."""
    import numpy as np

    plt = pyplot()
    matrix = np.asarray(matrix)
    size = max(4.0, 0.45 * len(classes) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(classes)), [str(c) for c in classes], rotation=90 if len(classes) > 6 else 0)
    axis.set_yticks(range(len(classes)), [str(c) for c in classes])
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(classes) <= 30:
        top = matrix.max() or 1
        for (i, j), count in np.ndenumerate(matrix):
            axis.text(j, i, int(count), ha="center", va="center", color="white" if count > top / 2 else "black")
    figure.tight_layout()
    return figure


def per_class_figure(per_class, keys=("precision", "recall", "f1"), names=None):
    """Scores per class (precision, recall and F1; or IoU and Dice) as grouped bars; `names` relabels the classes."""
    import numpy as np

    plt = pyplot()
    classes = list(per_class)
    keys = [k for k in keys if all(k in per_class[c] for c in classes)]
    labels = [str(names[int(c)]) if names is not None and str(c).isdigit() else str(c) for c in classes]
    figure, axis = plt.subplots(figsize=(max(5.0, 0.5 * len(classes) + 2), 3.6))
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        axis.bar(np.arange(len(classes)) + i * width, [per_class[c][key] for c in classes], width, label=key)
    axis.set_xticks(
        np.arange(len(classes)) + width * (len(keys) - 1) / 2, labels, rotation=90 if len(classes) > 8 else 0
    )
    axis.set_ylim(0, 1.05)
    axis.legend(fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def mask_colours(classes):
    """One RGB colour per class index (a fixed, distinguishable palette), uint8 (classes, 3)."""
    import numpy as np

    plt = pyplot()
    palette = plt.get_cmap("tab20")
    return (np.array([palette(i % 20)[:3] for i in range(classes)]) * 255).astype(np.uint8)


def image_grid(images, titles=None, columns=8):
    """uint8 images (n, height, width[, channels]) in a grid, each with an optional title."""
    plt = pyplot()
    rows = max(1, math.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows), squeeze=False)
    for i, axis in enumerate(axes.ravel()):
        axis.axis("off")
        if i < len(images):
            image = images[i]
            axis.imshow(image.squeeze(), cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None)
            if titles:
                axis.set_title(titles[i], fontsize=7)
    figure.tight_layout()
    return figure


def trial_plots(trials, monitor):
    """The search's score against each hyperparameter, one panel per hyperparameter."""
    plt = pyplot()
    fixed = {"trial_id", "status", monitor}
    names = [k for k in trials[0] if k not in fixed and not k.startswith("val_")]
    names = [n for n in names if len({t[n] for t in trials}) > 1] or names[:1]
    figure, axes = plt.subplots(1, max(1, len(names)), figsize=(max(5.0, 3.6 * len(names)), 3.4), squeeze=False)
    scores = [float(t[monitor]) if t[monitor] not in ("", "None") else math.nan for t in trials]
    for axis, name in zip(axes[0], names):
        values = [t[name] for t in trials]
        try:
            axis.scatter([float(v) for v in values], scores)
            if name in ("learning_rate",):
                axis.set_xscale("log")
            axis.tick_params(axis="x", which="both", labelrotation=30)  # log-axis labels overlap when level
        except ValueError:  # a choice: one column per option
            options = sorted(set(values))
            axis.scatter([options.index(v) for v in values], scores)
            axis.set_xticks(range(len(options)), options, rotation=45)
        axis.set_xlabel(name)
        axis.set_ylabel(monitor)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _best_epoch(values, mode):
    finite = [(v, i) for i, v in enumerate(values or []) if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return (max if mode == "max" else min)(finite)[1]


def finite(values):
    return [v if v is not None and math.isfinite(v) else math.nan for v in values]
