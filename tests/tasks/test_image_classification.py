"""Image classification: the shared battery plus data forms, errors, fine-tuning, tuning, resume."""

import csv
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import toolkit
from tasks import ImageClassifier, TextClassifier, train_image_classifier
from tasks.image_classification.data import digits
from tests.tasks.battery import TaskBattery
from toolkit import splits as splits_lib

DIGITS_X, DIGITS_Y, _ = digits()


def digits_subset(n=400):
    return DIGITS_X[:n], DIGITS_Y[:n]


class TestImageClassifierBattery(TaskBattery):
    task_class = ImageClassifier

    def task_kwargs(self):
        return {"backbone": "mlp", "width": 16}

    def train_data(self):
        return digits_subset(300)

    def predict_inputs(self):
        return DIGITS_X[1000:1004]

    def model_inputs(self, task):
        return DIGITS_X[1000:1004].astype("float32")

    def bad_inputs(self):
        with_nan = DIGITS_X[:40].astype("float32")
        with_nan[3, 2, 2] = np.nan
        with_inf = DIGITS_X[:40].astype("float32")
        with_inf[5, 0, 0] = np.inf
        return [
            ((DIGITS_X[:10], DIGITS_Y[:9]), "10 inputs but 9 targets"),
            ("/no/such/folder", "does not exist"),
            ((DIGITS_X[:20], ["7"] * 20), "single class"),
            ((with_nan, DIGITS_Y[:40]), "holds 1 NaN or infinite values \\(first in image 3\\)"),
            ((with_inf, DIGITS_Y[:40]), "NaN or infinite"),
            ((list(with_nan), DIGITS_Y[:40]), "first in image 3\\)"),
            ((DIGITS_X[:40], [None] + DIGITS_Y[1:40]), "1 labels are missing"),
            ((DIGITS_X[:40], np.array([np.nan] + [1.0] * 39)), "1 labels are missing"),
        ]

    def bad_arguments(self):
        return [
            ({"augment": ("flip", "blur")}, "Unknown augmentation 'blur'"),
            ({"augment": "flip"}, "augment='flip'"),
            ({"input_scaling": "caffe"}, "input_scaling='caffe'"),
            ({"image_size": "big"}, "image_size='big'"),
        ]

    def check_prediction(self, task, prediction):
        assert prediction["label"] in task.classes_
        assert 0 <= prediction["probability"] <= 1
        assert set(prediction["probabilities"]) == set(task.classes_)
        assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-4


def test_default_run_reaches_098_on_digits(tmp_path):
    """The README's main job: no data, default backbone, real (bundled) digits."""
    clf = train_image_classifier(save_dir=str(tmp_path), verbose=0)
    assert clf.metrics_["test"]["accuracy"] >= 0.98
    assert clf.metrics_["data"]["test_examples"] == 360
    metrics = json.loads((pathlib.Path(clf.run_dir) / "metrics.json").read_text())
    test = metrics["test"]
    assert len(test["confusion_matrix"]) == 10 and sum(map(sum, test["confusion_matrix"])) == 360
    assert set(test["per_class"]["3"]) == {"precision", "recall", "f1", "support"}
    assert "top_5_accuracy" in test and test["top_5_accuracy"] >= test["accuracy"]


def test_folder_of_mixed_images(shapes_folder, fast):
    # Batches of 8: 33 training images give 5 steps an epoch, 40 in all (batches of 32 gave 16).
    clf = ImageClassifier(backbone="lenet", image_size=(32, 32), **{**fast, "epochs": 8, "batch_size": 8}).fit(
        shapes_folder
    )
    assert clf.classes_ == ["circle", "square"]
    assert clf.channels_ == 3  # some files are colour, so all are read as RGB
    files = sorted(str(p) for p in pathlib.Path(shapes_folder).rglob("*.*"))[:6]
    predictions = clf.predict(files)
    assert [set(p) for p in predictions] == [{"label", "probability", "probabilities"}] * 6
    # the shapes are easy: a working model separates them
    assert clf.evaluate(shapes_folder)["accuracy"] >= 0.8


def test_mixed_sizes_without_image_size_uses_the_training_part_median(shapes_folder, fast):
    from tasks.image_classification.data import load_source
    from toolkit import data as data_lib
    from toolkit import image_files

    clf = ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit(shapes_folder)
    paths, labels, _ = load_source(shapes_folder)
    y, _ = data_lib.encode_labels(labels)
    ((train,), _), _, _, _ = splits_lib.holdout([np.arange(len(y))], y, test_split=0.2, validation_split=0.1, seed=0)
    sizes = np.array([image_files.peek(paths[i])[0] for i in train])
    assert tuple(clf.image_size_) == tuple(int(np.median(sizes[:, i])) for i in (0, 1)) == (32, 36)
    # The median of all the files, held-out ones included, would be 32x33: they do not shape the model.


def test_csv_manifest(shapes_folder, fast, tmp_path):
    manifest = tmp_path / "labels.csv"
    files = sorted(pathlib.Path(shapes_folder).rglob("*.*"))
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for path in files:
            writer.writerow([str(path), "round" if path.parent.name == "circle" else "boxy"])
    clf = ImageClassifier(backbone="mlp", image_size=16, **{**fast, "epochs": 1}).fit(manifest)
    assert clf.classes_ == ["boxy", "round"]


def test_tf_data_dataset_batched_and_unbatched(fast):
    x, y = digits_subset(200)
    labels = np.array([int(v) for v in y])
    for dataset in (
        tf.data.Dataset.from_tensor_slices((x, labels)),
        tf.data.Dataset.from_tensor_slices((x, labels)).batch(16),
    ):
        clf = ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit(dataset)
        assert clf.classes_ == list(range(10))
        assert clf.predict(x[:2])[0]["label"] in range(10)


def test_validation_data_is_used_and_recorded(fast):
    x, y = digits_subset(400)
    clf = ImageClassifier(backbone="mlp", **fast).fit((x[:300], y[:300]), validation_data=(x[300:], y[300:]))
    assert clf.metrics_["data"]["validation_examples"] == 100
    assert clf.metrics_["data"]["validation"].startswith("validation_data")


def test_tfds_with_mock_data(fast, tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=60):
        clf = ImageClassifier(backbone="mlp", data_dir=str(tmp_path / "tfds"), **{**fast, "epochs": 1}).fit(
            "tfds:mnist"
        )
    assert clf.classes_ == [str(i) for i in range(10)]
    assert tuple(clf.image_size_) == (28, 28)


def test_tfds_offline_gives_clear_error(fast, tmp_path, offline):
    with pytest.raises(
        toolkit.ToolkitError, match="(?s)TFDS dataset 'mnist' is not prepared.*network is unreachable.*tfds build mnist"
    ):
        ImageClassifier(data_dir=str(tmp_path / "empty"), **fast).fit("tfds:mnist")


@pytest.mark.parametrize(
    "make_data, message",
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no images"),
        (lambda tmp: _single_class_folder(tmp), "single class"),
        # Named from its header when the size sample holds it, else when tf.data fails to decode it.
        (lambda tmp: _folder_with_corrupt_image(tmp), "(Cannot read image file|could not be decoded):? '.*broken.jpg'"),
    ],
    ids=["missing-folder", "empty-folder", "single-class", "corrupt-image"],
)
def test_bad_folders_raise_clear_errors(tmp_path, fast, make_data, message):
    data = make_data(tmp_path)
    with pytest.raises(toolkit.ToolkitError, match=message) as error:
        ImageClassifier(**fast).fit(data)
    assert "Fix:" in str(error.value)


def _single_class_folder(tmp):
    from tests.conftest import draw_shape_image

    (tmp / "one" / "cat").mkdir(parents=True)
    for i in range(3):
        draw_shape_image(tmp / "one" / "cat" / f"{i}.png", "circle", (16, 16), False, i)
    return tmp / "one"


def _folder_with_corrupt_image(tmp):
    from tests.conftest import draw_shape_image

    for label in ("a", "b"):  # enough good images that the training part holds both classes
        (tmp / "bad" / label).mkdir(parents=True)
        for i in range(4):
            draw_shape_image(tmp / "bad" / label / f"ok{i}.png", "circle", (16, 16), True, i)
    (tmp / "bad" / "b" / "broken.jpg").write_bytes(b"this is not a jpeg")
    return tmp / "bad"


def test_unknown_backbone_lists_valid_names(fast):
    with pytest.raises(toolkit.ToolkitError, match="(?s)Unknown backbone 'resnet_9000'.*lenet.*mobilenet"):
        ImageClassifier(backbone="resnet_9000", **fast).fit(digits_subset(50))


def test_offline_hub_preset_gives_clear_error(fast, offline):
    with pytest.raises(
        toolkit.ToolkitError, match="(?s)Could not download KerasHub preset 'resnet_18_imagenet'.*local preset folder"
    ):
        ImageClassifier(backbone="resnet_18_imagenet", **fast).fit(digits_subset(50))


def test_finished_run_is_not_overwritten(fast):
    x, y = digits_subset(100)
    first = ImageClassifier(backbone="mlp", run_name="keep", **{**fast, "epochs": 1}).fit((x, y))
    model_bytes = (pathlib.Path(first.run_dir) / "model.keras").read_bytes()
    with pytest.raises(toolkit.ToolkitError, match="already holds a finished run"):
        ImageClassifier(backbone="mlp", run_name="keep", **{**fast, "epochs": 1}).fit((x, y))
    assert (pathlib.Path(first.run_dir) / "model.keras").read_bytes() == model_bytes
    ImageClassifier(backbone="mlp", run_name="keep", overwrite=True, **{**fast, "epochs": 1}).fit((x, y))


@pytest.mark.parametrize("backbone", ["mlp", "lenet", "vgg", "resnet", "mobilenet"])
def test_every_scratch_backbone_trains(backbone, fast):
    clf = ImageClassifier(backbone=backbone, width=8, **{**fast, "epochs": 2}).fit(digits_subset(200))
    assert clf.history_["loss"][1] < clf.history_["loss"][0]


def test_keras_model_backbone(fast):
    backbone = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu")]
    )
    clf = ImageClassifier(backbone=backbone, **{**fast, "epochs": 1}).fit(digits_subset(100))
    assert toolkit.load(clf.run_dir).predict(DIGITS_X[:1])[0]["label"] in clf.classes_


def test_augmentation_layers_are_in_the_model_and_inactive_at_inference(fast):
    clf = ImageClassifier(backbone="mlp", augment=("rotation", "zoom", "flip"), **{**fast, "epochs": 1}).fit(
        digits_subset(100)
    )
    kinds = {type(layer).__name__ for layer in clf.model_.layers}
    assert {"RandomRotation", "RandomZoom", "RandomFlip", "Resizing", "PerImageStandardization"} <= kinds
    x = DIGITS_X[:16].astype("float32")
    # Inference is deterministic; training mode really augments (different outputs for the same images).
    np.testing.assert_allclose(clf.model_(x, training=False), clf.model_(x, training=False))
    augmented = clf.model_.get_layer("rotation")(clf.model_.get_layer("resize")(x), training=True).numpy()
    assert not np.allclose(augmented, x), "the augmentation layers changed nothing in training mode"
    assert not np.allclose(clf.model_(x, training=True), clf.model_(x, training=False))


def test_raw_images_of_another_size_are_resized_by_the_model(fast):
    clf = ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit(digits_subset(100))
    big = np.kron(DIGITS_X[:3, ..., 0], np.ones((4, 4), dtype=np.uint8))  # 32x32 versions
    assert clf.model_.predict(big[..., None].astype("float32"), verbose=0).shape == (3, 10)
    assert len(clf.predict(big)) == 3
    # one image, with or without its channel axis, is a batch of one
    assert clf.predict(DIGITS_X[5]) == clf.predict(DIGITS_X[5, ..., 0]) == clf.predict(DIGITS_X[5:6])


class _Killed(BaseException):
    """Stands for the process dying: neither Keras nor KerasTuner catch BaseException."""


class _KillAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Killed()


class _RecordEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_killed_run_resumes_from_last_finished_epoch(fast, capsys):
    x, y = digits_subset(300)
    settings = dict(backbone="mlp", run_name="crash", patience=100, **{**fast, "epochs": 6})
    with pytest.raises(_Killed):
        ImageClassifier(callbacks=[_KillAtEpoch(2)], **settings).fit((x, y))
    run_dir = pathlib.Path(fast["save_dir"]) / "image_classification" / "crash"
    assert not (run_dir / "model.keras").exists()
    recorder = _RecordEpochs()
    capsys.readouterr()
    clf = ImageClassifier(callbacks=[recorder], **{**settings, "verbose": 2}).fit((x, y))
    assert "Resuming from epoch 3 of run 'crash' (phase 1/1 was interrupted" in capsys.readouterr().out
    # epochs 0 and 1 finished before the kill (epoch 2 died before its backup); training goes on from 2
    assert recorder.epochs == [2, 3, 4, 5]
    assert [int(e) for e in clf.history_["epoch"]] == [0, 1, 2, 3, 4, 5]
    logged = [row.split(",")[0] for row in (run_dir / "history.csv").read_text().splitlines()[1:]]
    assert logged == ["0", "1", "2", "3", "4", "5"]


KILLED_SCRIPT = """
import sys, time, keras
sys.path.insert(0, {root!r})
from tasks import ImageClassifier
from tasks.image_classification.data import digits

class Slow(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.5)  # gives the test time to kill between epochs and inside them

x, y, _ = digits()
ImageClassifier(backbone="mlp", epochs=8, patience=100, verbose=0, save_dir={save_dir!r}, run_name="killed",
                callbacks=[Slow()]).fit((x[:300], y[:300]))
"""


def test_sigkilled_process_resumes(fast):
    """A real `kill -9` of a training process, then the same call again resumes it."""
    import signal
    import subprocess
    import sys
    import time

    root = str(pathlib.Path(__file__).resolve().parents[2])
    script = KILLED_SCRIPT.format(root=root, save_dir=fast["save_dir"])
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    history = pathlib.Path(fast["save_dir"]) / "image_classification" / "killed" / "history.csv"
    # No time limit (it would flake on a loaded machine): wait until three epochs are logged, failing
    # only if the process ends first.
    while not history.exists() or len(history.read_text().splitlines()) < 4:
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    logged_before = len(history.read_text().splitlines()) - 1
    assert 3 <= logged_before < 8

    recorder = _RecordEpochs()
    x, y = digits_subset(300)
    clf = ImageClassifier(
        backbone="mlp",
        epochs=8,
        patience=100,
        verbose=0,
        save_dir=fast["save_dir"],
        run_name="killed",
        callbacks=[recorder],
    ).fit((x, y))
    assert recorder.epochs[0] >= logged_before  # no finished epoch is trained again
    assert recorder.epochs[-1] == 7
    epochs = [int(e) for e in clf.history_["epoch"]]
    assert epochs == sorted(set(epochs)) and epochs[-1] == 7
    assert clf.metrics_["test"]["accuracy"] > 0.5


def _flip_and_rotation_decisions(model, count=400):
    """Runs the augmentation layers of an image classifier on a probe image; returns (flipped, turned_left)."""
    image = np.zeros((count, 64, 64, 1), "float32")
    image[:, 20:27, 20:27] = 255.0  # a blob in the top-left quadrant, clear of the reflected borders
    x = tf.constant(image)
    for name in ("flip", "rotation"):
        x = model.get_layer(name)(x, training=True)
    out = x.numpy()[..., 0]
    rows, cols = np.mgrid[0:64, 0:64]
    weight = out.sum(axis=(1, 2))
    row = (out * rows).sum(axis=(1, 2)) / weight - 31.5
    col = (out * cols).sum(axis=(1, 2)) / weight - 31.5
    flipped = col > 0
    # Unturned, the blob sits at -135 degrees (-45 when flipped); the sign of the turn is what is left.
    angle = np.degrees(np.arctan2(row, col))
    expected = np.where(flipped, -45.0, -135.0)
    turn = (angle - expected + 180) % 360 - 180
    return flipped.astype(float), (turn > 0).astype(float)


def test_augmentation_layers_draw_independent_random_numbers(fast):
    clf = ImageClassifier(backbone="mlp", augment=("flip", "rotation"), **{**fast, "epochs": 1})
    clf.fit((DIGITS_X[:100], DIGITS_Y[:100]))
    seeds = {layer.seed for layer in clf.model_.layers if layer.name in ("flip", "rotation")}
    assert len(seeds) == 2
    flipped, turned = _flip_and_rotation_decisions(clf.model_)
    assert 0.35 < flipped.mean() < 0.65 and 0.35 < turned.mean() < 0.65
    # With one shared seed these decisions correlate at about -0.97; independent layers near 0.
    assert abs(np.corrcoef(flipped, turned)[0, 1]) < 0.2


@pytest.mark.parametrize("scaling, low, high", [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0), ("raw", 0.0, 255.0)])
def test_input_scaling_is_explicit(fast, scaling, low, high):
    user = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    clf = ImageClassifier(backbone=user, input_scaling=scaling, **{**fast, "epochs": 1})
    clf.fit((DIGITS_X[:60], DIGITS_Y[:60]))
    scaled = keras.Model(clf.model_.inputs, clf.model_.get_layer("rescale").output)
    values = scaled(np.stack([np.zeros((8, 8, 1)), np.full((8, 8, 1), 255.0)]).astype("float32")).numpy()
    assert values.min() == pytest.approx(low) and values.max() == pytest.approx(high)


def test_from_scratch_default_standardizes_each_image_and_survives_saving(fast):
    # Two images that differ only in brightness and contrast reach the backbone identical.
    clf = ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit((DIGITS_X[:60], DIGITS_Y[:60]))
    scaled = keras.Model(clf.model_.inputs, clf.model_.get_layer("rescale").output)
    image = DIGITS_X[:1, ..., None].astype("float32")
    dim, bright = scaled(image * 0.5).numpy(), scaled(image * 0.5 + 100).numpy()
    assert np.allclose(dim, bright, atol=1e-4)
    assert abs(dim.mean()) < 1e-4 and dim.std() == pytest.approx(1.0, abs=1e-3)
    reloaded = toolkit.load(clf.run_dir)  # a registered layer, so safe-mode loading accepts it
    before, after = clf.predict(DIGITS_X[:5]), reloaded.predict(DIGITS_X[:5])
    assert [a["probability"] for a in after] == pytest.approx([b["probability"] for b in before], abs=1e-6)
    # A user's keras.Model keeps [0, 1] unless told otherwise (test_input_scaling_is_explicit).
    assert ImageClassifier(backbone=keras.Sequential([keras.layers.Flatten()]))._input_scaling() == "unit"


def test_bad_input_scaling_is_an_error_before_training(fast):
    with pytest.raises(toolkit.ToolkitError, match="input_scaling='caffe' is not valid"):
        ImageClassifier(input_scaling="caffe", **fast).fit((DIGITS_X[:40], DIGITS_Y[:40]))


def test_warnings_go_through_the_warnings_module(fast, capsys):
    with pytest.warns(UserWarning, match="pixel values are all 0 or 1"):
        ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit(
            ((DIGITS_X[:60] > 100).astype("uint8"), DIGITS_Y[:60])
        )
    mixed = [np.zeros((8 + i % 3, 8, 1), "uint8") + (i % 2) * 200 for i in range(40)]
    with pytest.warns(UserWarning, match="Images differ in size"):
        ImageClassifier(backbone="mlp", **{**fast, "epochs": 1}).fit((mixed, ["a", "b"] * 20))
    texts = ["good film", "", "bad film", None] * 10
    with pytest.warns(UserWarning, match="Skipped 20 of 40"):
        TextClassifier(**{**fast, "epochs": 1}).fit((texts, ["pos", "neg", "neg", "pos"] * 10))
    assert capsys.readouterr().out == "", "a warning was printed to stdout"
