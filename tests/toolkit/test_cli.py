"""The `toolkit` command line: train, evaluate, predict, list, and errors as one message."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import toolkit
from toolkit import cli


def test_options_are_parsed_with_their_declared_types():
    from tasks import ImageClassifier, SpeechClassifier, TextClassifier

    parsed = cli.task_options(
        ImageClassifier,
        {"image_size": "64,64", "learning_rate": "1e-3", "backbone": "vgg", "augment": "rotation,zoom", "epochs": "3"},
    )
    assert parsed == {
        "image_size": (64, 64),
        "learning_rate": 0.001,
        "backbone": "vgg",
        "augment": ("rotation", "zoom"),
        "epochs": 3,
    }
    assert cli.task_options(ImageClassifier, {"image_size": "32"}) == {"image_size": 32}
    assert cli.task_options(ImageClassifier, {"run_name": "none"}) == {"run_name": None}
    # Text that looks like another type keeps the argument's own type.
    assert cli.task_options(ImageClassifier, {"run_name": "2024"}) == {"run_name": "2024"}
    assert cli.task_options(SpeechClassifier, {"label_pattern": r"^(\d{1,2})_"}) == {"label_pattern": r"^(\d{1,2})_"}
    # A single name is a list of one; a trailing comma changes nothing.
    assert cli.task_options(ImageClassifier, {"augment": "flip"}) == {"augment": ("flip",)}
    assert cli.task_options(ImageClassifier, {"augment": "flip,"}) == {"augment": ("flip",)}
    assert cli.task_options(TextClassifier, {"columns": "review,stars"}) == {"columns": ("review", "stars")}
    assert cli.task_options(TextClassifier, {"columns": "0,1"}) == {"columns": (0, 1)}
    assert cli.task_options(ImageClassifier, {"verbose": "0"}) == {"verbose": 0}
    for options in ({"learning_rate": "fast"}, {"epochs": "ten"}, {"image_size": "big"}):
        with pytest.raises(toolkit.ToolkitError, match="is not valid"):
            cli.task_options(ImageClassifier, options)


def test_a_numeric_run_name_stays_a_name(tmp_path, capsys):
    argv = ["train", "image-classification", "--backbone", "mlp", "--epochs", "1", "--verbose", "0"]
    assert cli.main([*argv, "--save-dir", str(tmp_path), "--run-name", "2024"]) == 0, capsys.readouterr().err
    assert (tmp_path / "image_classification" / "2024" / "model.keras").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--learning-rate", "fast"], "--learning-rate 'fast' is not valid"),
        (["--augment", "blur"], "Unknown augmentation 'blur'"),
        (["--dropout", "2"], "dropout=2.0 is not valid"),
        (["--width", "0"], "width=0 is not valid"),
        (["--image-size", "0"], "image_size=0 is not valid"),
        (["--epochs", "0"], "epochs=0 is not valid"),
        (["text-classification", "--vocabulary-size", "0"], "vocabulary_size=0 is not valid"),
        (["text-classification", "--sequence-length", "-5"], "sequence_length=-5 is not valid"),
        (["speech-classification", "--duration", "-1"], "duration=-1.0 is not valid"),
        (["speech-recognition", "--sample-rate", "0"], "sample_rate=0 is not valid"),
        (["image-generation", "--depth", "0"], "depth=0 is not valid"),
    ],
    ids=lambda value: value if isinstance(value, str) else "_".join(value).lstrip("-"),
)
def test_bad_options_are_one_message_before_any_run_folder(tmp_path, capsys, argv, message):
    task = argv.pop(0) if not argv[0].startswith("--") else "image-classification"
    status = cli.main(["train", task, "--save-dir", str(tmp_path), "--verbose", "0", *argv])
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir()), "a run folder was created before the error"


def test_train_evaluate_predict_list(tmp_path, capsys, shapes_folder):
    argv = [
        "train",
        "image-classification",
        "--data",
        str(shapes_folder),
        "--backbone",
        "lenet",
        "--image-size",
        "32,32",
        "--epochs",
        "8",
        "--patience",
        "8",
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
    # circles and squares at 32 px: eight epochs of LeNet separate them far above chance (0.5)
    assert result["test"]["accuracy"] >= 0.75, result
    assert set(result["test"]) >= {"accuracy", "macro_f1", "loss"}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["params"]["image_size"] == [32, 32] and config["params"]["backbone"] == "lenet"

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
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: Data path"), result.stderr
    assert "Traceback" not in result.stderr and "cuda" not in result.stderr.lower()
    assert result.stdout == ""


@pytest.mark.parametrize(
    "task, offered, left_out",
    [
        ("image-segmentation", {"unet", "vgg", "resnet", "mobilenet"}, {"mlp", "lenet", "cnn", "mel_gru"}),
        ("speech-classification", {"lenet", "vgg", "resnet", "mobilenet", "mel_gru", "mel_lstm"}, {"mlp", "unet"}),
        ("image-classification", {"mlp", "lenet", "vgg", "resnet", "mobilenet"}, {"unet", "cnn", "ctc_gru"}),
    ],
)
def test_list_offers_exactly_the_backbones_the_task_accepts(capsys, task, offered, left_out):
    assert cli.main(["list", "backbones", "--task", task]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line and not line.startswith(" ")}
    listed.discard("Pretrained")
    assert offered <= listed and not listed & left_out, listed
    task_class = toolkit.TASKS.get(task)
    assert listed == set(task_class.accepted_backbones())
    for name in listed:  # every listed name passes the task's own check
        task_class(backbone=name)._check_backbone()


def test_shipped_help_catalog_matches_the_code():
    """`--help` reads toolkit/cli_catalog.json; it must say what the constructors and docstrings say."""
    from toolkit import cli_catalog

    shipped = json.loads(cli_catalog.CATALOG_FILE.read_text())
    assert shipped == cli_catalog.live_catalog(), "the help catalog is stale: run `python -m toolkit.cli_catalog`"


def test_every_option_of_every_task_is_described():
    from toolkit import cli_catalog

    for task, entry in cli_catalog.live().items():
        undescribed = [option["flag"] for option in entry["options"] if option["help"].startswith("[")]
        assert not undescribed, f"{task}: add these arguments to the constructor docstring's Args: {undescribed}"
    augment = next(o for o in cli_catalog.live()["image-classification"]["options"] if o["name"] == "augment")
    assert augment["help"].startswith('augmentations used in training only, from "flip"')
    assert "['auto', or a comma-separated list of strings; default: 'auto']" in augment["help"]


HELP_SCRIPT = """
import sys
sys.argv = ["toolkit"] + {argv!r}  # what the console script sees
from toolkit.cli import main
try:
    main()
except SystemExit as exit:
    print("EXIT", exit.code)
print("LOADED", sorted(m for m in ("tensorflow", "keras", "keras_hub", "tasks") if m in sys.modules))
"""


@pytest.mark.parametrize(
    "argv, shown",
    [
        ([], "{train,tune-worker,lr-find,evaluate,predict,export,report,compare,serve,list}"),
        (["train", "text-classification"], "--columns VALUE"),
        (["train"], "image-segmentation"),
        (["lr-find", "image-classification"], "--max-rate"),
        (["predict"], "--overlays"),
        (["tune-worker", "image-classification"], "--oracle HOST:PORT"),
        (["train", "speech-classification"], "required: this task has no built-in dataset"),
        (["train", "object-detection"], "Ultralytics YOLO (data.yaml"),
    ],
)
def test_help_is_answered_without_importing_tensorflow(argv, shown):
    result = subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT.format(argv=argv + ["--help"])], capture_output=True, text=True
    )
    assert "EXIT 0" in result.stdout and "LOADED []" in result.stdout, result.stdout + result.stderr
    assert shown in " ".join(result.stdout.split())  # argparse wraps the lines
    if argv[:2] == ["train", "text-classification"]:
        words = " ".join(result.stdout.split())  # argparse wraps the lines
        assert "--columns VALUE (text column, label column) of CSV / TSV / JSON Lines data, by name" in words


def test_help_names_each_task_s_data_forms_and_says_its_defaults_in_words():
    from toolkit import cli_catalog

    for task, entry in cli_catalog.live().items():
        assert entry["data"].startswith("training data: ") and len(entry["data"]) > 80, (task, entry["data"])
        has_default = task not in (
            "speech-classification",
            "speech-recognition",
            "text-classification",
            "tabular-classification",
            "tabular-regression",
            "time-series-classification",
            "time-series-forecasting",
        )
        has_default = has_default and not task.startswith("toy-")  # a test's own family reads only what it is given
        assert ("required: this task has no built-in dataset" in entry["data"]) == (not has_default), task
        for option in entry["options"]:
            assert "`_" not in option["help"] and "image classification's default" not in option["help"], option
            if option["name"] in ("epochs", "batch_size", "learning_rate") and "default: None]" in option["help"]:
                assert "None: " in option["help"], f"{task} {option['flag']}: say what None chooses"


LIST_SCRIPT = """
import sys
sys.argv = ["toolkit"] + {argv!r}
from toolkit.cli import main
print("EXIT", main())
print("LOADED", sorted(m for m in ("tensorflow", "keras", "keras_hub", "tasks") if m in sys.modules))
"""


def test_list_answers_from_the_catalog_without_tensorflow_and_shows_every_built_in_dataset():
    result = subprocess.run([sys.executable, "-c", LIST_SCRIPT.format(argv=["list"])], capture_output=True, text=True)
    assert "EXIT 0" in result.stdout and "LOADED []" in result.stdout, result.stdout + result.stderr
    from toolkit import cli_catalog

    catalog = cli_catalog.live_catalog()
    for entry in catalog["tasks"].values():
        for name, description in entry["datasets"].items():
            assert f"{name:24s} {description}" in result.stdout
    for name in ("dates", "number-words", "facts", "python-docs", "digits", "shapes"):
        assert f"\n{name} " in result.stdout, name
    assert all(name in result.stdout for name in catalog["backbones"]) and "freeze_then_unfreeze" in result.stdout
    unknown = subprocess.run(
        [sys.executable, "-c", LIST_SCRIPT.format(argv=["list", "datasets", "--task", "nope"])],
        capture_output=True,
        text=True,
    )
    assert "EXIT 2" in unknown.stdout and "Unknown task 'nope'" in unknown.stderr


def test_installed_command_answers_help_with_descriptions():
    script = pathlib.Path(sys.executable).with_name("toolkit")
    if not script.exists():
        pytest.skip(f"no installed `toolkit` command beside {sys.executable} (pip install -e . makes it)")
    result = subprocess.run([str(script), "train", "image-segmentation", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == ""
    words = " ".join(result.stdout.split())  # argparse wraps the lines
    assert "--class-names VALUE names of the class indices" in words
    assert "5% linear warm-up" in words  # argparse's %-formatting does not eat the text


@pytest.mark.parametrize("where", ["a file", "a read-only file system"])
def test_a_save_folder_that_cannot_hold_runs_is_an_error_before_the_data_is_read(tmp_path, capsys, where):
    if where == "a file":
        save_dir = tmp_path / "notes.txt"
        save_dir.write_text("mine")
    else:
        save_dir = pathlib.Path("/proc/toolkit-runs")  # /proc refuses new files, even to root
    missing_data = tmp_path / "no-such-folder"  # reading it would be a different error
    status = cli.main(["train", "image-classification", "--data", str(missing_data), "--save-dir", str(save_dir)])
    err = capsys.readouterr().err
    assert status == 2 and "cannot hold runs" in err and "Traceback" not in err, err
    assert "no-such-folder" not in err  # refused before the data was looked at
    if where == "a file":
        assert save_dir.read_text() == "mine"
