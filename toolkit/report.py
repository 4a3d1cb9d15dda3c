"""A run folder as a page a person can look at: `report.html` and the same plots as PNG files.

`write_report(run_dir)` reads what the run folder holds (history, metrics, trials) and asks the
task for its own pictures (`Task._report_figures`: a confusion matrix and per-class scores for
classifiers, samples for generators, ...). The page is self-contained: the plots are embedded
as PNG, with no script and no network, so it opens from disk; the PNG files sit in
`<run>/report/`. `fit` writes it at the end of every run; `toolkit report RUN_DIR` writes it
again and `toolkit compare RUN_DIR ...` puts several runs side by side.
"""

import base64
import csv
import html
import io
import math
import pathlib

from toolkit import data as data_lib
from toolkit import runs

REPORT_FILE = "report.html"
FIGURES_DIR = "report"


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(run_dir, task=None, data_figures=None):
    """Writes `<run_dir>/report.html` and `<run_dir>/report/*.png`; returns the HTML file's path.

    Args:
        run_dir: a finished run folder.
        task: the run's task, when the caller has it (default: loaded from the folder).
        data_figures: [(title, figure)] drawn from held-out data (at the end of `fit`); saved as
            `report/data-*.png`. None: the `data-*.png` files already there are embedded again.
    """
    from toolkit.task import load

    run_dir = pathlib.Path(run_dir)
    task = task if task is not None else load(run_dir)
    history = runs.read_history(run_dir / runs.HISTORY_FILE)
    metrics = getattr(task, "metrics_", None) or {}
    figures = []
    if history.get("loss"):
        figures.append(("Learning curves", learning_curves(history, task.monitor, task.monitor_mode)))
    figures += task._report_figures()
    trials = _read_csv(run_dir / "trials.csv")
    if trials:
        figures.append(("Search: score against each hyperparameter", trial_plots(trials, task.monitor)))
    folder = run_dir / FIGURES_DIR
    folder.mkdir(exist_ok=True)
    tables = [(title, fragment) for title, fragment in figures if isinstance(fragment, str)]
    figures = [(title, figure) for title, figure in figures if not isinstance(figure, str)]
    drawn = [(title, _png(figure), f"{i + 1:02d}-{_slug(title)}.png") for i, (title, figure) in enumerate(figures)]
    if data_figures is not None:
        for old in folder.glob("data-*.png"):
            old.unlink()
        kept = [(t, _png(f), f"data-{i + 1:02d}-{_slug(t)}.png") for i, (t, f) in enumerate(data_figures)]
    else:
        kept = [(_title(p), p.read_bytes(), p.name) for p in sorted(folder.glob("data-*.png"))]
    sections = [_summary_tables(metrics)]
    for title, png, name in drawn + kept:
        (folder / name).write_bytes(png)
        sections.append(
            f"<figure><figcaption>{html.escape(title)}</figcaption>"
            f'<img alt="{html.escape(title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>'
        )
    for title, fragment in tables:
        sections.append(f"<h2>{html.escape(title)}</h2>{fragment}")
    if trials:
        sections.append("<h2>Search trials (best first)</h2>" + _table(trials))
    title = f"{task.task_name}: {run_dir.name}"
    path = run_dir / REPORT_FILE
    runs.write_text(path, _page(title, sections))
    return path


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
                axis.plot(epochs, _finite(values), marker=".", label=label)
        if name == "learning_rate":
            axis.step(epochs, _finite(history[name]), where="post", color="tab:green")
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


def compare(run_dirs, output):
    """Writes an HTML page with several runs' scores in one table and their validation curves overlaid."""
    from toolkit.task import load

    plt = pyplot()
    rows = []
    figure, axis = plt.subplots(figsize=(7, 4))
    for run_dir in map(pathlib.Path, run_dirs):
        task = load(run_dir)
        metrics = getattr(task, "metrics_", None) or {}
        row = {"run": str(run_dir), "task": task.task_name}
        for part in ("test", "validation"):
            for key, value in (_scalars(metrics.get(part)) or {}).items():
                row[f"{part} {key}"] = _fmt(value)
        rows.append(row)
        history = runs.read_history(run_dir / runs.HISTORY_FILE)
        curve = history.get(task.monitor) or history.get("loss")
        if curve:
            axis.plot(range(1, len(curve) + 1), _finite(curve), marker=".", label=run_dir.name)
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation score (each run's monitor)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    png = _png(figure)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    sections = [
        "<h2>Scores</h2>" + _table([{c: r.get(c, "") for c in columns} for r in rows]),
        f'<figure><figcaption>Validation curves</figcaption><img alt="Validation curves" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>',
    ]
    output = pathlib.Path(output)
    runs.write_text(output, _page(f"Comparison of {len(rows)} runs", sections))
    return output


# ------------------------------------------------------------------ helpers
def _best_epoch(values, mode):
    finite = [(v, i) for i, v in enumerate(values or []) if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return (max if mode == "max" else min)(finite)[1]


def _finite(values):
    return [v if v is not None and math.isfinite(v) else math.nan for v in values]


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot().close(figure)
    return buffer.getvalue()


def _title(path):
    """The title a `data-NN-slug.png` file was saved under, as near as its name keeps it."""
    words = path.stem.split("-", 2)[-1].replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def _slug(title):
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:40]


def _read_csv(path):
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _scalars(metrics):
    if not metrics:
        return None
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _table(rows):
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_fmt(v) if isinstance(v, float) else str(v))}</td>" for v in r.values())
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# What a baseline table's columns mean, said under it (keys a task's `_compare_with_baseline` records).
BASELINE_NOTES = {
    "part": "the part the run and the baseline are scored on: test when the run has one (seen only at the end)",
    "majority_share": "always answering the most common class",
    "whole_image_baseline": "one box the size of the image for every class in every image, scored 1",
    "independent_pixels": "a model of each pixel on its own (its mean over these same images, no latent code; "
    "for a GAN, samples with each pixel shuffled across the images): lower is better, and a run must beat it",
    "margin": "three standard errors of that share on this part's examples (at least 0.01): the run counts as "
    "better only above share + margin, since a score this close is within the part's sampling noise",
}


def _summary_tables(metrics):
    """Scores (one row per score, one column per part, test first), the flag of a validation part too small
    to trust, the baseline (with what its columns mean), the data and the distribution."""
    parts = []
    scores = [(part, _scalars(metrics.get(part))) for part in ("test", "validation") if _scalars(metrics.get(part))]
    keys = sorted({k for _, s in scores for k in s})
    if keys:
        # One row per score: a table as narrow as its parts, however many scores a task has (detection's
        # per-size APs and recalls ran off the page as columns).
        data = metrics.get("data") or {}
        heads = {part: f"{part} ({data[part + '_examples']:,} examples)" if isinstance(data.get(part + "_examples"),
                 int) else part for part, _ in scores}  # fmt: skip
        rows = [{"score": k, **{heads[part]: _fmt(s.get(k, "")) for part, s in scores}} for k in keys]
        parts.append("<h2>Scores</h2>" + _table(rows))
        flag = data_lib.small_validation(metrics)
        if flag:
            parts.append(f'<p class="flag">Note: {html.escape(flag)}.</p>')
    baseline = metrics.get("baseline")
    if baseline:
        shown = {k: v for k, v in baseline.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        shown.update({k: str(v).lower() for k, v in baseline.items() if isinstance(v, bool)})
        notes = "".join(
            f"<li><b>{html.escape(k)}</b>: {html.escape(note)}</li>" for k, note in BASELINE_NOTES.items() if k in shown
        )
        parts.append(
            "<h2>Against a trivial baseline</h2>"
            + _table([shown])
            + (f'<ul class="notes">{notes}</ul>' if notes else "")
        )
    data = _scalars(metrics.get("data"))
    if data:
        parts.append("<h2>Data</h2>" + _table([data]))
    distribution = metrics.get("distribution")
    if distribution and distribution.get("strategy"):
        parts.append("<h2>Distribution</h2>" + _table([distribution]))
    return "".join(parts)


def _page(title, sections):
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
        "figure{margin:1.5em 0}figcaption{font-weight:600;margin-bottom:.4em}img{max-width:100%}"
        "table.text td{text-align:left;font-family:monospace}mark{background:#fbb}del{color:#a00}"
        "p.flag{background:#fff3cd;padding:.4em .8em;border-left:4px solid #e0a800}"
        "table{display:block;max-width:100%;overflow-x:auto}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n"
    )
