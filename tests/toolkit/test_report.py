"""Every run writes report.html and its plots (issue "Every run as a report, exported ..., and served over HTTP")."""

import base64
import csv
import io
import json
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from tasks import ImageClassifier
from tasks.image_classification.data import digits
from toolkit import cli, figures, report

X, Y, _ = digits()


class Search(ImageClassifier):
    def search_space(self, hp):
        return {"learning_rate": hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")}


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("runs")
    # batch_size as before the small-folder default of 16: the plots' ink thresholds were set on this run.
    clf = Search(backbone="mlp", tune=True, max_trials=2, epochs=3, batch_size=32, verbose=0, save_dir=str(save_dir))
    return clf.fit((X[:400], Y[:400]))


def _not_blank(path):
    pixels = np.asarray(Image.open(path).convert("L"), np.float32)
    return pixels.std() > 10 and (pixels < 128).mean() > 0.005  # ink on the page, not a flat image


def test_a_finished_run_writes_a_self_contained_report_with_its_plots(tuned_run):
    run_dir = tuned_run.run_dir
    tuned_run_path = pathlib.Path(run_dir)
    page = tuned_run_path / report.REPORT_FILE
    text = page.read_text()
    assert "<script" not in text and "http://" not in text and "https://" not in text  # opens from disk, offline
    images = re.findall(r'src="data:image/png;base64,', text)
    pngs = sorted((tuned_run_path / report.FIGURES_DIR).glob("*.png"))
    names = [p.name for p in pngs]
    # Curves, confusion matrix, per-class scores, the search, and the most confident test mistakes.
    assert len(images) == len(pngs) == 5, names
    for part in ("learning-curves", "confusion-matrix", "per-class", "search", "data-01-most-confident-mistakes"):
        assert any(part in n for n in names), (part, names)
    assert all(_not_blank(p) for p in pngs)
    accuracy = tuned_run.metrics_["test"]["accuracy"]
    assert f"{accuracy:.4g}" in text and "Search trials" in text
    with open(tuned_run_path / "trials.csv") as f:
        assert all(row["trial_id"] in text for row in csv.DictReader(f))


CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None
)
PNG_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _screenshot(page, png, height):
    """Renders `page` in headless Chromium, as a person opening the file would see it, into `png`."""
    if CHROMIUM is None:
        if os.environ.get("TOOLKIT_REQUIRE_CHROMIUM"):
            pytest.fail("TOOLKIT_REQUIRE_CHROMIUM is set but no chromium is on PATH (apt-get install chromium)")
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium); CI installs it")
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
         f"--window-size=1280,{height}", f"--screenshot={png}", page.as_uri()],
        check=True, capture_output=True,
    )  # fmt: skip
    return np.asarray(Image.open(png).convert("RGB"), np.int16)


def _white_like(match):
    """The same <img> with a white PNG of the same size: the page's layout stays, the plot goes."""
    size = Image.open(io.BytesIO(base64.b64decode(match.group(1)))).size
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return f'src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"'


def _bands(rows):
    """The runs of consecutive True values in `rows`, as (first, last) pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], rows.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2] - 1))


def test_the_report_renders_in_a_browser_with_every_plot_in_place(tuned_run, tmp_path):
    page = pathlib.Path(tuned_run.run_dir) / report.REPORT_FILE
    text = page.read_text()
    figures = len(PNG_URI.findall(text))
    # The same page with each plot swapped for a white picture of its size: only the plots differ.
    blank_page = tmp_path / "no-plots.html"
    blank_page.write_text(PNG_URI.sub(_white_like, text))
    shot = _screenshot(page, tmp_path / "report.png", 4000)
    blank = _screenshot(blank_page, tmp_path / "no-plots.png", 4000)
    assert shot.shape == blank.shape and shot.std() > 10  # a page with content, not an empty window
    assert (blank < 128).any(axis=-1).mean() > 0.002  # the tables and headings render on their own
    # Rows where the plots put ink on the screen: one band per figure, stacked down the page.
    changed = np.abs(shot - blank).max(axis=-1) > 48
    differs = changed.sum(axis=1) >= 2  # a plot's frame is two lines a row
    bands = [(a, b) for a, b in _bands(differs) if b - a >= 40]  # a plot is taller than a line of text
    assert len(bands) == figures == 5, (bands, figures)
    for a, b in bands:  # each plot shows drawing, not an empty frame
        columns = np.flatnonzero(changed[a : b + 1].any(axis=0))
        region = shot[a : b + 1, columns[0] : columns[-1] + 1]
        assert (region < 128).any(axis=-1).mean() > 0.02 and region.std() > 20, (a, b)
    assert bands[-1][1] < shot.shape[0] - 10, "the page is longer than the window: raise the window height"


def test_report_and_compare_from_the_command_line(tuned_run, tmp_path, capsys):
    run_dir = pathlib.Path(tuned_run.run_dir)
    (run_dir / report.REPORT_FILE).unlink()
    assert cli.main(["report", str(run_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["report"] == str(run_dir / report.REPORT_FILE)
    again = (run_dir / report.REPORT_FILE).read_text()  # without the data: the data figures kept as files
    assert again.count("data:image/png;base64,") == 5 and "Most confident mistakes" in again
    other = ImageClassifier(backbone="mlp", epochs=2, verbose=0, save_dir=str(tmp_path)).fit((X[:300], Y[:300]))
    output = tmp_path / "both.html"
    assert cli.main(["compare", str(run_dir), other.run_dir, "--output", str(output)]) == 0
    text = output.read_text()
    assert run_dir.name in text and pathlib.Path(other.run_dir).name in text
    assert "test accuracy" in text and text.count("data:image/png;base64,") == 1


def test_transcripts_mark_wrong_and_missing_words():
    table = figures.transcripts_table([{"truth": "one two three", "predicted": "one too three four"}])
    assert "one <del>two</del> <mark>too</mark> three <mark>four</mark>" in table
    assert "ab<del>c</del><mark>d</mark>" in figures.transcripts_table([{"truth": "abc", "predicted": "abd"}])
