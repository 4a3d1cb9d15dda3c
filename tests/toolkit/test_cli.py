"""The `toolkit` command line: train, evaluate, predict, list, and errors as one message."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from toolkit import cli


def test_parse_value():
    assert cli.parse_value("64,64") == (64, 64)
    assert cli.parse_value("none") is None
    assert cli.parse_value("0.5") == 0.5
    assert cli.parse_value("vgg") == "vgg"
    assert cli.parse_value("rotation,zoom") == ("rotation", "zoom")


def test_train_evaluate_predict_list(tmp_path, capsys, shapes_folder):
    argv = [
        "train",
        "image-classification",
        "--data",
        str(shapes_folder),
        "--backbone",
        "lenet",
        "--image-size",
        "24,24",
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--save-dir",
        str(tmp_path),
        "--run-name",
        "cli",
    ]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run_dir = pathlib.Path(result["run_dir"])
    assert run_dir == tmp_path / "image_classification" / "cli"
    assert 0 <= result["test"]["accuracy"] <= 1
    config = json.loads((run_dir / "config.json").read_text())
    assert config["params"]["image_size"] == [24, 24] and config["params"]["backbone"] == "lenet"

    assert cli.main(["evaluate", str(run_dir), "--data", str(shapes_folder)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) >= {"accuracy", "macro_f1", "loss", "confusion_matrix"}

    image = next(pathlib.Path(shapes_folder, "circle").iterdir())
    assert cli.main(["predict", str(run_dir), str(image)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(image)) and json.loads(line.split("\t")[1])["label"] in ("circle", "square")
    assert cli.main(["predict", str(run_dir), str(tmp_path / "missing.png")]) == 2
    assert "missing.png' does not exist" in capsys.readouterr().err

    assert cli.main(["list", "backbones", "--task", "image-classification"]) == 0
    listing = capsys.readouterr().out
    assert "vgg" in listing and "resnet_18_imagenet" in listing
    assert cli.main(["list", "datasets"]) == 0
    assert "digits" in capsys.readouterr().out
    assert cli.main(["list"]) == 0
    everything = capsys.readouterr().out
    assert all(heading in everything for heading in ("Tasks:", "Backbones:", "Datasets:", "Strategies:"))
    assert "freeze_then_unfreeze" in everything and "image-classification" in everything


def test_bad_input_is_one_message_and_nonzero(tmp_path, capsys):
    assert (
        cli.main(["train", "image-classification", "--data", str(tmp_path / "nope"), "--save-dir", str(tmp_path)]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: Data path") and "Fix:" in err and "Traceback" not in err
    assert cli.main(["evaluate", str(tmp_path), "--data", "digits"]) == 2
    assert "not a finished run directory" in capsys.readouterr().err


def test_unknown_task_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "image-clasification"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'image-clasification'" in capsys.readouterr().err


def test_console_script_prints_no_tensorflow_noise(tmp_path):
    """The installed `toolkit` command: errors without traceback, no C++ log lines on stderr."""
    script = pathlib.Path(sys.executable).with_name("toolkit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "toolkit.cli"]
    result = subprocess.run(
        command + ["train", "image-classification", "--data", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: Data path"), result.stderr
    assert "Traceback" not in result.stderr and "cuda" not in result.stderr.lower()
    assert result.stdout == ""
