"""A run folder as a page a person can look at: `report.html` and the same plots as PNG files.

`write_report` renders what it is handed: the run's scores and the figures `toolkit.figures` and the
task drew (`Task.report_contents`). The page is self-contained: the plots are embedded as PNG, with
no script and no network, so it opens from disk; the PNG files sit in `<run>/report/`. `fit` writes
it at the end of every run; `toolkit report RUN_DIR` writes it again and `toolkit compare RUN_DIR ...`
puts several runs side by side.
"""

import base64
import html
import io
import pathlib

from toolkit import files, runs
from toolkit import splits as splits_lib
from toolkit.figures import finite as _finite
from toolkit.figures import pyplot

REPORT_FILE = "report.html"
FIGURES_DIR = "report"


def write_report(run_dir, title, metrics, figures=(), trials=(), data_figures=None):
    """Writes `<run_dir>/report.html` and `<run_dir>/report/*.png`; returns the HTML file's path.

    Args:
        run_dir: a finished run folder.
        title: the page's title.
        metrics: the run's metrics.json content (scores, baseline, data, distribution).
        figures: [(title, matplotlib figure or an HTML table)] (see `toolkit.figures.run_contents`).
        trials: the search's trials.csv rows, shown as a table.
        data_figures: [(title, figure)] drawn from held-out data (at the end of `fit`); saved as
            `report/data-*.png`. None: the `data-*.png` files already there are embedded again.
    """
    run_dir = pathlib.Path(run_dir)
    folder = run_dir / FIGURES_DIR
    folder.mkdir(exist_ok=True)
    tables = [(t, fragment) for t, fragment in figures if isinstance(fragment, str)]
    figures = [(t, figure) for t, figure in figures if not isinstance(figure, str)]
    drawn = [(t, _png(figure), f"{i + 1:02d}-{_slug(t)}.png") for i, (t, figure) in enumerate(figures)]
    if data_figures is not None:
        for old in folder.glob("data-*.png"):
            old.unlink()
        kept = [(t, _png(f), f"data-{i + 1:02d}-{_slug(t)}.png") for i, (t, f) in enumerate(data_figures)]
    else:
        kept = [(_title(p), p.read_bytes(), p.name) for p in sorted(folder.glob("data-*.png"))]
    sections = [_summary_tables(metrics)]
    for caption, png, name in drawn + kept:
        (folder / name).write_bytes(png)
        sections.append(
            f"<figure><figcaption>{html.escape(caption)}</figcaption>"
            f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>'
        )
    for caption, fragment in tables:
        sections.append(f"<h2>{html.escape(caption)}</h2>{fragment}")
    if trials:
        sections.append("<h2>Search trials (best first)</h2>" + _table(list(trials)))
    path = run_dir / REPORT_FILE
    files.write_text(path, _page(title, sections))
    return path


def compare(run_records, output):
    """Writes an HTML page with several runs' scores in one table and their validation curves overlaid.

    Args:
        run_records: [(run_dir, task_name, metrics, monitor)], one per run (`toolkit.cli` loads them).
        output: the HTML file to write.
    """
    plt = pyplot()
    rows = []
    figure, axis = plt.subplots(figsize=(7, 4))
    for run_dir, task_name, metrics, monitor in run_records:
        run_dir = pathlib.Path(run_dir)
        metrics = metrics or {}
        row = {"run": str(run_dir), "task": task_name}
        for part in ("test", "validation"):
            for key, value in (_scalars(metrics.get(part)) or {}).items():
                row[f"{part} {key}"] = _fmt(value)
        rows.append(row)
        history = files.read_history(run_dir / runs.HISTORY_FILE)
        curve = history.get(monitor) or history.get("loss")
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
    files.write_text(output, _page(f"Comparison of {len(rows)} runs", sections))
    return output


# ------------------------------------------------------------------ helpers
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


# What a baseline table's columns mean, said under it (keys a task's `compare_with_baseline` records).
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
        flag = splits_lib.small_validation(metrics)
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
