"""Safe loading, a user's model never trained in place, untouched arguments, one folder per run."""

import json
import multiprocessing
import pathlib

import keras
import numpy as np
import pytest

import toolkit
from tasks import ImageClassifier
from tasks.image_classification.data import digits
from toolkit import runs

DIGITS_X, DIGITS_Y, _ = digits()


def _crafted_run(folder, task, cls, params):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"task": task, "class": cls, "params": params, "fitted": {}}))
    (folder / "model.keras").write_bytes(b"not a model")
    return folder


@pytest.mark.parametrize(
    "task, cls, params",
    [
        ("evil", "subprocess:run", {"args": ["touch", "{marker}"]}),
        ("evil", "os:system", {"command": "touch {marker}"}),
        (None, "subprocess:run", {"args": ["touch", "{marker}"]}),
    ],
    ids=["subprocess-run", "os-system", "no-task-name"],
)
def test_crafted_config_is_refused_and_runs_nothing(tmp_path, task, cls, params):
    marker = tmp_path / "pwned"
    params = json.loads(json.dumps(params).replace("{marker}", str(marker)))
    run_dir = _crafted_run(tmp_path / "run", task, cls, params)
    with pytest.raises(toolkit.ToolkitError, match="not a registered task; loading was refused"):
        toolkit.load(run_dir)
    assert not marker.exists(), "loading a crafted config.json ran a command"


def test_a_registered_task_name_builds_only_that_class(tmp_path):
    """The "class" field is never read: a real task name with a crafted class and call arguments builds the
    registered task, which refuses the foreign arguments; the command they carry never runs."""
    marker = tmp_path / "pwned"
    run_dir = _crafted_run(tmp_path / "run", "image-classification", "subprocess:run", {"args": ["touch", str(marker)]})
    with pytest.raises(toolkit.ToolkitError, match="ImageClassifier got an unknown argument 'args'"):
        toolkit.load(run_dir)
    assert not marker.exists()


def _user_backbone():
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu")], name="mine"
    )


def test_user_model_is_copied_not_trained_in_place(fast):
    user = _user_backbone()
    before = [w.copy() for w in user.get_weights()]
    data = (DIGITS_X[:200], DIGITS_Y[:200])
    first = ImageClassifier(backbone=user, **{**fast, "epochs": 2}).fit(data)
    for a, b in zip(before, user.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    trained = [w.copy() for w in first.model_.get_layer("backbone").get_weights()]
    assert any(not np.array_equal(a, b) for a, b in zip(before, trained, strict=True)), "the copy did not train"
    # Fitting a second task from the same object starts from the user's weights and leaves the first model alone.
    second = ImageClassifier(backbone=user, **{**fast, "epochs": 1}).fit(data)
    for a, b in zip(trained, first.model_.get_layer("backbone").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert second.model_.get_layer("backbone") is not first.model_.get_layer("backbone")


class _FirstWeights(keras.callbacks.Callback):
    """Records the backbone's weights at the start of every training run (each tuning trial)."""

    seen = []

    def on_train_begin(self, logs=None):
        _FirstWeights.seen.append([w.copy() for w in self.model.get_layer("backbone").get_weights()])


def test_tuning_trials_start_from_identical_weights_and_arguments_stay(fast):
    user = _user_backbone()
    before = [w.copy() for w in user.get_weights()]
    _FirstWeights.seen = []
    clf = ImageClassifier(
        backbone=user, tune=True, max_trials=2, callbacks=[_FirstWeights()], learning_rate=0.01, **fast
    ).fit((DIGITS_X[:200], DIGITS_Y[:200]))
    assert len(_FirstWeights.seen) >= 3  # two trials, then the winner's training
    for start in _FirstWeights.seen:
        for a, b in zip(before, start, strict=True):
            np.testing.assert_array_equal(a, b)
    # fit keeps the user's arguments; the winner lives in best_hyperparameters_ and trained the model.
    assert clf.learning_rate == 0.01 and clf.backbone is user
    assert set(clf.best_hyperparameters_) >= {"learning_rate", "dropout"}
    assert clf.best_hyperparameters_["learning_rate"] != 0.01
    dropout = next(layer for layer in clf.model_.layers if isinstance(layer, keras.layers.Dropout))
    assert dropout.rate == pytest.approx(clf.best_hyperparameters_["dropout"])
    config = json.loads((pathlib.Path(clf.run_dir) / "config.json").read_text())
    assert config["params"]["learning_rate"] == 0.01
    assert config["fitted"]["best_hyperparameters_"] == clf.best_hyperparameters_


def _make_run_dir(save_dir, barrier, queue):
    import datetime

    class Frozen(datetime.datetime):  # both processes see the same second, as two runs started together do
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2026, 1, 1, 12, 0, 0)

    runs.datetime.datetime = Frozen
    barrier.wait()
    queue.put(str(runs.prepare_run_dir(save_dir, "image-classification")))


def test_runs_started_together_get_their_own_folders(tmp_path):
    context = multiprocessing.get_context("fork")
    count = 6
    barrier, queue = context.Barrier(count), context.Queue()
    processes = [context.Process(target=_make_run_dir, args=(str(tmp_path), barrier, queue)) for _ in range(count)]
    for process in processes:
        process.start()
    folders = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    assert len(set(folders)) == count, folders
    assert sorted(pathlib.Path(f).name for f in folders)[0] == "20260101-120000"


def test_a_misspelt_argument_names_the_closest_one():
    with pytest.raises(
        toolkit.ToolkitError, match="(?s)unknown argument 'epoch' \\(did you mean 'epochs'\\?\\).*batch_size"
    ):
        ImageClassifier(epoch=5)
