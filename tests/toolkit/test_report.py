"""Every run writes report.html and its plots (issue "Every run as a report, exported ..., and served over HTTP")."""

import csv
import json
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

from tasks import ImageClassifier
from tasks.image_classification.data import digits
from toolkit import cli, report

X, Y, _ = digits()


class Search(ImageClassifier):
    def search_space(self, hp):
        return {"learning_rate": hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")}


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("runs")
    clf = Search(backbone="mlp", tune=True, max_trials=2, epochs=3, verbose=0, save_dir=str(save_dir))
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
    table = report.transcripts_table([{"truth": "one two three", "predicted": "one too three four"}])
    assert "one <del>two</del> <mark>too</mark> three <mark>four</mark>" in table
    assert "ab<del>c</del><mark>d</mark>" in report.transcripts_table([{"truth": "abc", "predicted": "abd"}])
