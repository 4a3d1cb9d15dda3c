"""Fine-tuning a KerasHub backbone from a local preset folder, and hyperparameter search."""

import csv
import json
import pathlib

import keras
import numpy as np
import pytest

from tasks import ImageClassifier
from tests.conftest import draw_shape_image, tiny_keras_hub_resnet


@pytest.fixture(scope="session")
def shapes_arrays():
    """96 RGB 32x32 images of circles and squares, as arrays."""
    import tempfile

    from PIL import Image

    images, labels = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(96):
            shape = ("circle", "square")[i % 2]
            path = pathlib.Path(tmp) / f"{i}.png"
            draw_shape_image(path, shape, (32, 32), True, i)
            images.append(np.asarray(Image.open(path)))
            labels.append(shape)
    return np.stack(images), labels


@pytest.fixture(scope="session")
def local_preset(tmp_path_factory, shapes_arrays):
    """A real KerasHub preset folder: a small ResNet trained briefly, written with save_to_preset."""
    import keras_hub

    backbone = tiny_keras_hub_resnet()
    converter = keras_hub.layers.ResNetImageConverter(image_size=(32, 32), scale=1 / 255)
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    classifier = keras_hub.models.ResNetImageClassifier(backbone=backbone, num_classes=2, preprocessor=preprocessor)
    x, y = shapes_arrays
    classifier.fit(
        x.astype("float32"),
        np.array([label == "square" for label in y], dtype="int32"),
        epochs=1,
        batch_size=32,
        verbose=0,
        shuffle=False,  # KerasHub makes a dataset of the arrays, which would ignore shuffle=True with a warning
    )
    folder = tmp_path_factory.mktemp("preset") / "tiny_resnet"
    classifier.save_to_preset(str(folder))
    return str(folder)


class QuickSearchClassifier(ImageClassifier):
    """The same search machinery over a cheaper space (small backbones and widths keep each trial to seconds)."""

    def search_space(self, hp):
        return {
            "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
            "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1),
            "backbone": hp.Choice("backbone", ["mlp", "lenet"]),
            "width": hp.Choice("width", [8, 16]),
        }


def _backbone_weights(clf):
    return [w.copy() for w in clf.model_.get_layer("backbone").get_weights()]


def _preset_weights(preset):
    import keras_hub

    return [w for w in keras_hub.models.Backbone.from_preset(preset).get_weights()]


class _HeadAtStart(keras.callbacks.Callback):
    """Keeps the head's weights as training starts, to check that training moved them."""

    def on_train_begin(self, logs=None):
        self.weights = [w.copy() for w in self.model.get_layer("classes").get_weights()]


def test_freeze_keeps_preset_backbone_fixed(local_preset, shapes_arrays, fast):
    head_at_start = _HeadAtStart()
    clf = ImageClassifier(backbone=local_preset, finetune="freeze", callbacks=[head_at_start], **{**fast, "epochs": 2})
    clf.fit(shapes_arrays)
    assert tuple(clf.image_size_) == (32, 32)  # taken from the preset's image converter
    loaded = _preset_weights(local_preset)
    after = _backbone_weights(clf)
    assert len(after) == len(loaded) > 0
    for before, now in zip(loaded, after, strict=True):
        np.testing.assert_array_equal(before, now)
    head = clf.model_.get_layer("classes").get_weights()
    assert len(head) == len(head_at_start.weights) == 2
    assert all(not np.array_equal(a, b) for a, b in zip(head_at_start.weights, head, strict=True)), (
        "the head did not train"
    )


def test_freeze_then_unfreeze_moves_preset_backbone(local_preset, shapes_arrays, fast):
    clf = ImageClassifier(
        backbone=local_preset, finetune="freeze_then_unfreeze", learning_rate=1e-2, patience=10, **{**fast, "epochs": 3}
    ).fit(shapes_arrays)
    loaded = _preset_weights(local_preset)
    after = _backbone_weights(clf)
    assert len(after) == len(loaded) > 0
    moved = sum(not np.array_equal(a, b) for a, b in zip(loaded, after, strict=True))
    assert moved > len(after) // 2
    assert "loss" in clf.history_ and len(clf.history_["loss"]) == 3


def test_full_finetune_from_preset_lowers_loss_and_round_trips(local_preset, shapes_arrays, fast):
    import toolkit

    clf = ImageClassifier(backbone=local_preset, finetune="full", patience=10, **{**fast, "epochs": 3}).fit(
        shapes_arrays
    )
    losses = clf.history_["loss"]
    assert losses[-1] < losses[0]
    loaded = toolkit.load(clf.run_dir)
    x = shapes_arrays[0][:5]
    assert loaded.predict(x) == clf.predict(x)


def test_freeze_keeps_scratch_backbone_fixed_and_full_moves_it(fast):
    from tasks.image_classification.data import digits

    x, y, _ = digits()
    data = (x[:300], y[:300])
    keras.utils.set_random_seed(0)
    frozen = ImageClassifier(backbone="vgg", width=8, finetune="freeze", **fast)
    keras.utils.set_random_seed(0)
    reference = ImageClassifier(backbone="vgg", width=8, **fast)
    reference.prepare_data(data, None)
    keras.utils.set_random_seed(0)
    initial = reference.build_model().get_layer("backbone").get_weights()
    frozen.fit(data)
    assert len(initial) == len(_backbone_weights(frozen)) > 0
    for before, now in zip(initial, _backbone_weights(frozen), strict=True):
        np.testing.assert_array_equal(before, now)
    full = ImageClassifier(backbone="vgg", width=8, finetune="full", **fast).fit(data)
    assert any(not np.array_equal(a, b) for a, b in zip(initial, _backbone_weights(full), strict=True))


@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband"])
def test_tuning_writes_trials_and_returns_best(tuner, fast):
    from tasks.image_classification.data import digits

    x, y, _ = digits()
    clf = QuickSearchClassifier(tune=True, tuner=tuner, max_trials=2, run_name="tuned", **fast).fit((x[:300], y[:300]))
    run_dir = pathlib.Path(clf.run_dir)
    assert (run_dir / "tuner").is_dir() and (run_dir / "model.keras").is_file()
    with open(run_dir / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2  # max_trials is the budget, for hyperband too
    assert {row["status"] for row in rows} == {"COMPLETED"}, rows
    assert {"trial_id", "val_loss", "learning_rate", "dropout", "backbone", "width"} <= set(rows[0])
    # every validation metric of each trial's best epoch, not the objective alone
    assert list(rows[0])[:5] == ["trial_id", "status", "val_loss", "val_accuracy", "val_top_5_accuracy"]
    assert all(0 <= float(row["val_accuracy"]) <= float(row["val_top_5_accuracy"]) <= 1 for row in rows)
    best = rows[0]
    chosen = clf.best_hyperparameters_
    assert chosen["backbone"] == best["backbone"] and chosen["width"] == int(best["width"])
    assert chosen["learning_rate"] == pytest.approx(float(best["learning_rate"]))
    # The user's arguments stay as given; the winner trained the saved model.
    assert (
        clf.get_config()
        == QuickSearchClassifier(tune=True, tuner=tuner, max_trials=2, run_name="tuned", **fast).get_config()
    )
    assert clf.model_.get_layer("backbone").layers[1].__class__.__name__ == (
        "Flatten" if chosen["backbone"] == "mlp" else "Conv2D"
    )


def test_hyperband_keeps_to_max_trials(fast):
    """Hyperband alone plans 10 trials for 4 epochs here; max_trials caps them."""
    from tasks.image_classification.data import digits

    x, y, _ = digits()
    settings = {**fast, "epochs": 4}
    clf = QuickSearchClassifier(backbone="mlp", tune=True, tuner="hyperband", max_trials=3, **settings).fit(
        (x[:200], y[:200])
    )
    with open(pathlib.Path(clf.run_dir) / "trials.csv") as f:
        assert len(list(csv.DictReader(f))) == 3


class _Killed(BaseException):
    pass


class _KillOnSecondTrial(keras.callbacks.Callback):
    trainings = 0

    def on_train_begin(self, logs=None):
        type(self).trainings += 1
        if type(self).trainings == 2:
            raise _Killed()


def test_interrupted_search_resumes(fast):
    from tasks.image_classification.data import digits

    x, y, _ = digits()
    data = (x[:300], y[:300])
    settings = dict(tune=True, max_trials=3, run_name="search", **{**fast, "epochs": 1})
    with pytest.raises(_Killed):
        QuickSearchClassifier(callbacks=[_KillOnSecondTrial()], **settings).fit(data)

    def trial_dirs():
        return sorted(
            p.name
            for p in (pathlib.Path(fast["save_dir"]) / "image_classification" / "search" / "tuner").glob("trial_*")
        )

    first_trials = trial_dirs()
    assert first_trials and len(first_trials) < 3
    clf = QuickSearchClassifier(**settings).fit(data)
    assert set(first_trials) <= set(trial_dirs())
    with open(pathlib.Path(clf.run_dir) / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len([r for r in rows if r["status"] == "COMPLETED"]) == 3

    # A finished search grows when called again with a larger budget: the
    # tuner state is kept, only the final model is replaced (overwrite=True).
    more = QuickSearchClassifier(**{**settings, "max_trials": 4, "overwrite": True}).fit(data)
    with open(pathlib.Path(more.run_dir) / "trials.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert set(first_trials) <= set(trial_dirs())


def test_a_killed_search_resumes_into_the_search_that_would_have_run(tmp_path):
    import signal
    import subprocess
    import sys

    # A real process, really killed (SIGKILL) in the second epoch of the second trial; the rerun's
    # trials, winner and final scores must be those of a search that was never interrupted.
    child = """
import json, os, signal, sys, keras
from tasks import ImageClassifier
from tasks.image_classification.data import digits
class Search(ImageClassifier):
    def search_space(self, hp):
        return {"learning_rate": hp.Float("learning_rate", 1e-3, 1e-1, sampling="log"),
                "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1)}
kill, trainings = sys.argv[2] == "kill", []
class Kill(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        trainings.append(1)
    def on_epoch_begin(self, epoch, logs=None):
        if kill and len(trainings) == 2 and epoch == 1:
            os.kill(os.getpid(), signal.SIGKILL)
x, y, _ = digits()
clf = Search(backbone="mlp", tune=True, max_trials=3, epochs=3, batch_size=32, verbose=0, save_dir=sys.argv[1],
             run_name="search", callbacks=[Kill()]).fit((x[:300], y[:300]))
trials = open(os.path.join(clf.run_dir, "trials.csv")).read()
print(json.dumps({"trainings_here": len(trainings), "trials": trials, "best": clf.best_hyperparameters_,
                  "test": clf.metrics_["test"]}))
"""

    def run(save_dir, mode):
        return subprocess.run([sys.executable, "-c", child, str(save_dir), mode], capture_output=True, text=True)

    killed = run(tmp_path / "cut", "kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed, straight = run(tmp_path / "cut", "go"), run(tmp_path / "straight", "go")
    assert resumed.returncode == 0 and straight.returncode == 0, (resumed.stderr + straight.stderr)[-3000:]
    before, after = json.loads(straight.stdout.splitlines()[-1]), json.loads(resumed.stdout.splitlines()[-1])
    # The uninterrupted run trained three trials and the final model; the resumed one two trials and the model.
    assert before.pop("trainings_here") == 4 and after.pop("trainings_here") == 3
    assert after == before
