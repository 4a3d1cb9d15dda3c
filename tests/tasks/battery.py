"""The shared task battery: every task's test module subclasses `TaskBattery`.

Like scikit-learn's common estimator checks and KerasHub's `run_task_test`:
config round trip, a short fit, predictions in user terms, save then load
gives equal predictions, the run directory has its files, bad input raises
a clear error.
"""

import json
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

import toolkit

KILLED_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {root!r})
import keras
from {module} import {name} as Battery


class KillInSecondEpoch(keras.callbacks.Callback):
    # A real SIGKILL after the first epoch's backup, inside the second epoch: what a crash or an
    # out-of-memory kill does. No clock is involved, so the test cannot flake on a loaded machine.
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1:
            os.kill(os.getpid(), signal.SIGKILL)


battery = Battery()
battery.task_class(**battery.resume_arguments({save_dir!r}, "resumed"), callbacks=[KillInSecondEpoch()]).fit(
    battery.train_data()
)
"""


class TaskBattery:
    """Subclasses set `task_class` and implement the data hooks below."""

    task_class = None
    # What `split="grouped"` without groups is told (a family that splits by time refuses any other split).
    grouped_split_message = "split='grouped' needs a group for every example"

    def train_data(self):
        raise NotImplementedError

    def predict_inputs(self):
        raise NotImplementedError

    def bad_inputs(self):
        """[(data, text the error message must contain), ...]"""
        raise NotImplementedError

    def bad_arguments(self):
        """[(constructor overrides, text the error must contain), ...] beyond the ones every task shares."""
        return []

    def shared_bad_arguments(self):
        return [
            ({"learning_rate": "x"}, "learning_rate='x'"),
            ({"epochs": 0}, "epochs=0 is not valid"),
            ({"batch_size": 2.5}, "batch_size=2.5"),
            ({"validation_split": 1.5}, "validation_split=1.5 is not valid"),
            ({"finetune": "thaw"}, "Unknown fine-tuning strategy 'thaw'"),
            ({"backbone": "no-such-backbone"}, "Unknown backbone 'no-such-backbone'"),
            ({"optimizer": "adamx"}, "optimizer='adamx' is not valid"),
            ({"learning_rate_schedule": "linear"}, "learning_rate_schedule='linear' is not valid"),
            ({"precision": "float8"}, "precision='float8' is not valid"),
            ({"backbone_lr_fraction": 2.0}, "backbone_lr_fraction=2.0 is not valid"),
            ({"split": "grouped"}, self.grouped_split_message),
        ]

    def check_prediction(self, task, prediction):
        raise NotImplementedError

    def task_kwargs(self):
        return {}

    def assert_same_predictions(self, before, after):
        assert before == after

    def model_inputs(self, task):
        """A batch the plain `task.model_` takes (float arrays, a tensor of strings, ...)."""
        raise NotImplementedError

    @pytest.fixture(scope="class")
    def fitted(self, tmp_path_factory):
        save_dir = tmp_path_factory.mktemp("battery")
        task = self.task_class(epochs=2, verbose=0, save_dir=str(save_dir), run_name="battery", **self.task_kwargs())
        return task.fit(self.train_data())

    def test_config_round_trip(self):
        task = self.task_class(**self.task_kwargs())
        config = task.get_config()
        json.dumps(config)
        assert self.task_class(**config).get_config() == config
        assert set(config) == set(self.task_class.param_names())

    def test_init_only_stores(self):
        # scikit-learn's rule: no validation in __init__; errors come from fit.
        task = self.task_class(epochs=-1, backbone="no-such-backbone")
        assert task.epochs == -1
        with pytest.raises(toolkit.ToolkitError):
            task.fit(self.train_data())

    def test_run_directory_has_its_files(self, fitted):
        run_dir = pathlib.Path(fitted.run_dir)
        for name in ("config.json", "model.keras", "history.csv", "metrics.json"):
            assert (run_dir / name).is_file(), name
        assert not (run_dir / "checkpoints").exists()
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert set(metrics) >= {"validation", "test"}
        assert metrics["validation"] == fitted.metrics_["validation"]
        assert np.isfinite(metrics["validation"]["loss"]) and metrics["validation"]["loss"] > 0
        history = (run_dir / "history.csv").read_text().splitlines()
        assert history[0].startswith("epoch,") and len(history) == 1 + len(fitted.history_["epoch"]) >= 2
        config = json.loads((run_dir / "config.json").read_text())
        assert config["task"] == fitted.task_name and config["params"] == fitted.get_config()
        assert not [p for p in run_dir.iterdir() if p.name.startswith(".tmp-")]

    def test_predict_returns_user_terms(self, fitted):
        predictions = fitted.predict(self.predict_inputs())
        assert len(predictions) == len(self.predict_inputs())
        for prediction in predictions:
            self.check_prediction(fitted, prediction)

    def test_save_then_load_predicts_the_same(self, fitted, tmp_path):
        loaded = toolkit.load(fitted.run_dir)
        assert type(loaded) is type(fitted)
        assert loaded.get_config() == fitted.get_config()
        inputs = self.predict_inputs()
        self.assert_same_predictions(fitted.predict(inputs), loaded.predict(inputs))
        fitted.save(tmp_path / "copy")
        again = toolkit.load(tmp_path / "copy")
        x = self.model_inputs(fitted)
        import keras

        # Outputs may be a dict of named outputs (a detector's heads): compared name by name.
        for a, b in zip(
            keras.tree.flatten(again.model_.predict(x, verbose=0)),
            keras.tree.flatten(fitted.model_.predict(x, verbose=0)),
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    def test_evaluate_returns_metrics(self, fitted):
        metrics = fitted.evaluate(self.train_data())
        assert "loss" in metrics and np.isfinite(metrics["loss"])

    def test_bad_input_raises_clear_error(self, tmp_path):
        for data, message in self.bad_inputs():
            task = self.task_class(epochs=1, verbose=0, save_dir=str(tmp_path), **self.task_kwargs())
            with pytest.raises(toolkit.ToolkitError, match=message) as error:
                task.fit(data)
            assert "Expected:" in str(error.value) and "Fix:" in str(error.value), str(error.value)
            assert not (tmp_path / task.task_name.replace("-", "_")).exists(), "a failed fit left a run folder"

    def shared_bad_inputs(self, tmp_path):
        """[(data, what the message must name)] that every family refuses the same way."""
        empty = tmp_path / "empty-folder"
        empty.mkdir(exist_ok=True)
        return [(str(tmp_path / "no-such-data"), "no-such-data"), (str(empty), "empty-folder"), (42, "int")]

    def test_shared_bad_inputs_name_what_was_found(self, tmp_path):
        """A missing path, an empty folder and a number: each a three-part error naming what was found, in
        this family's terms (no other family's name or forms), and no run folder left behind."""
        others = [name.replace("-", " ") for name in toolkit.TASKS.available() if name != self.task_class.task_name]
        for data, found in self.shared_bad_inputs(tmp_path):
            task = self.task_class(epochs=1, verbose=0, save_dir=str(tmp_path / "runs"), **self.task_kwargs())
            with pytest.raises(toolkit.ToolkitError) as error:
                task.fit(data)
            message = str(error.value)
            assert found in message and "Expected:" in message and "Fix:" in message, message
            assert not [name for name in others if name in message.lower()], message
            assert not (tmp_path / "runs").exists(), "a failed fit left a run folder"

    def test_bad_arguments_raise_clear_error_before_training(self, tmp_path):
        for overrides, message in self.shared_bad_arguments() + self.bad_arguments():
            kwargs = {**self.task_kwargs(), **overrides}
            task = self.task_class(epochs=kwargs.pop("epochs", 1), verbose=0, save_dir=str(tmp_path), **kwargs)
            with pytest.raises(toolkit.ToolkitError, match=message) as error:
                task.fit(self.train_data())
            assert "Expected:" in str(error.value), str(error.value)
            assert not (tmp_path / task.task_name.replace("-", "_")).exists(), f"{overrides} left a run folder"

    def resume_arguments(self, save_dir, run_name):
        """The arguments of the killed-and-resumed run: two epochs that early stopping never ends (killed in
        the second, so the resumed epoch is compared)."""
        return {**self.task_kwargs(), "epochs": 2, "patience": 100, "verbose": 0, "save_dir": str(save_dir),
                "run_name": run_name}  # fmt: skip

    def test_a_sigkilled_run_resumes_bit_exact(self, tmp_path):
        """Killed (SIGKILL) inside its second epoch, then run again with the same call: the history and the
        scores equal those of a run never interrupted."""
        root = pathlib.Path(__file__).resolve().parents[2]
        script = KILLED_SCRIPT.format(
            root=str(root), module=type(self).__module__, name=type(self).__name__, save_dir=str(tmp_path)
        )
        killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        run = tmp_path / self.task_class.task_name.replace("-", "_")
        assert len((run / "resumed" / "history.csv").read_text().splitlines()) == 2  # one epoch logged
        resumed = self.task_class(**self.resume_arguments(tmp_path, "resumed")).fit(self.train_data())
        straight = self.task_class(**self.resume_arguments(tmp_path, "straight")).fit(self.train_data())
        assert (run / "resumed" / "history.csv").read_text() == (run / "straight" / "history.csv").read_text()
        scores = [json.loads((run / name / "metrics.json").read_text()) for name in ("resumed", "straight")]
        assert {k: scores[0].get(k) for k in ("validation", "test")} == {
            k: scores[1].get(k) for k in ("validation", "test")
        }
        assert resumed.metrics_["validation"] == straight.metrics_["validation"]

    def test_a_served_run_refuses_malformed_requests_clearly_and_keeps_serving(self, fitted, tmp_path):
        """A real server (`toolkit serve`, uvicorn on 127.0.0.1): a body of the wrong shape, a multipart body
        without a boundary and a corrupt upload each get a 4xx in the toolkit's three-part form."""
        from tests.toolkit.test_serve_and_export import Server, bad_requests

        server = Server(fitted.run_dir)
        try:
            for status, answer in bad_requests(server, fitted.serving_input, tmp_path):
                assert 400 <= status < 500 and "error" in answer and "detail" not in answer, (status, answer)
                assert "Expected:" in answer["error"] and "Fix:" in answer["error"], answer
                assert "object at 0x" not in answer["error"] and "toolkit-serve-" not in answer["error"], answer
            assert server.call("/health") == (200, {"status": "ok"})  # still serving
        finally:
            server.stop()

    def test_misspelt_argument_names_the_closest_one(self):
        with pytest.raises(toolkit.ToolkitError, match="unknown argument 'epoch' \\(did you mean 'epochs'\\?\\)"):
            self.task_class(epoch=3)
