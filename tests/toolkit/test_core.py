"""Unit tests of the core: registry, runs, strategies, data helpers, metrics."""

import json
import os

import numpy as np
import pytest

import toolkit
from toolkit import data, files, readers, runs
from toolkit import splits as splits_lib
from toolkit.finetune import STRATEGIES
from toolkit.metrics import classification_metrics
from toolkit.registry import Registry


def test_registry_register_get_available():
    registry = Registry("widget")

    @registry.register("a", colour="red", sizes=(1, 2))
    def a():
        return "A"

    @registry.register("b", colour="blue", sizes=(2,))
    def b():
        return "B"

    assert registry.get("a")() == "A"
    assert "b" in registry and "c" not in registry
    assert registry.available() == ["a", "b"]
    assert registry.available(colour="blue") == ["b"]
    assert registry.available(sizes=2) == ["a", "b"]
    assert registry.metadata("a")["colour"] == "red"
    # One namespace for every task: a second owner of a name is an error, not a silent replacement
    # (a sequence-to-sequence "transformer" once hid the text classifiers' own).
    with pytest.raises(ValueError, match="widget 'a' is already registered by .*test_registry_register_get_available"):

        @registry.register("a")
        def another():
            return "not A"

    assert registry.get("a")() == "A"
    with pytest.raises(toolkit.ToolkitError, match="(?s)Unknown widget 'c'.*one of: a, b"):
        registry.get("c")


def test_tasks_are_found_through_entry_points():
    assert "image-classification" in toolkit.TASKS.available()
    assert toolkit.TASKS.get("image-classification").__name__ == "ImageClassifier"


def test_unknown_task_lists_valid_ones():
    with pytest.raises(toolkit.ToolkitError, match="(?s)Unknown task 'image-clasification'.*image-classification"):
        toolkit.TASKS.get("image-clasification")


def test_strategies_phases():
    assert STRATEGIES.available() == ["freeze", "freeze_then_unfreeze", "full"]
    phases = STRATEGIES.get("freeze_then_unfreeze")(10, 1e-3)
    assert [p.frozen for p in phases] == [("backbone",), ()]
    assert sum(p.epochs for p in phases) == 10
    assert phases[1].learning_rate == pytest.approx(1e-4)


def test_atomic_json_write_leaves_no_temporary_file(tmp_path):
    files.write_json(tmp_path / "a.json", {"x": np.float32(1.5), "y": np.arange(2)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "y": [0, 1]}
    assert os.listdir(tmp_path) == ["a.json"]


def test_run_dir_refuses_finished_run_and_reopens_interrupted(tmp_path):
    run_dir = runs.prepare_run_dir(tmp_path, "image-classification", "r1")
    assert run_dir == tmp_path / "image_classification" / "r1"
    (run_dir / "history.csv").write_text("epoch\n0\n")
    assert runs.prepare_run_dir(tmp_path, "image-classification", "r1") == run_dir  # interrupted: reopen
    (run_dir / "model.keras").write_text("saved, then killed before the metrics")
    assert runs.prepare_run_dir(tmp_path, "image-classification", "r1") == run_dir  # still unfinished
    files.write_json(run_dir / runs.FINISHED_FILE, {})  # fit's last write
    with pytest.raises(toolkit.ToolkitError, match="already holds a finished run"):
        runs.prepare_run_dir(tmp_path, "image-classification", "r1")
    timestamped = runs.prepare_run_dir(tmp_path, "image-classification")
    assert timestamped.parent == run_dir.parent and timestamped != run_dir


def test_split_is_seeded_and_stratified():
    x = np.arange(100)
    y = np.array([0] * 80 + [1] * 20)
    first = splits_lib.split([x], y, 0.2, seed=3)
    second = splits_lib.split([x], y, 0.2, seed=3)
    np.testing.assert_array_equal(first[2][0], second[2][0])
    assert first[4] == "stratified"
    assert (first[3] == 1).sum() == 4  # 20% of the minority class
    assert set(first[0][0]).isdisjoint(first[2][0])


def test_encode_labels_rejects_unknown_labels():
    indices, classes = data.encode_labels(["b", "a", "b"])
    assert classes == ["a", "b"] and indices.tolist() == [1, 0, 1]
    with pytest.raises(toolkit.ToolkitError, match=r"Labels \['c'\] do not occur"):
        data.encode_labels(["c"], classes)


def test_unbatched_rejects_non_pairs():
    import tensorflow as tf

    with pytest.raises(toolkit.ToolkitError, match="pairs"):
        data.unbatched(tf.data.Dataset.from_tensor_slices(np.zeros(3)))


def test_classification_metrics_against_hand_computed_values():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.9 + 0.1 / 3
    m = classification_metrics(labels, probs, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["a"]["recall"] == pytest.approx(0.5)
    assert "top_5_accuracy" not in m


def test_read_manifest_csv_tsv_header_and_errors(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(b"")
    (tmp_path / "list.tsv").write_text("path\ttranscript\na.wav\tthree, one\n")
    paths, targets = readers.read_manifest(tmp_path / "list.tsv", "audio")
    assert paths == [str((tmp_path / "a.wav").resolve())] and targets == ["three, one"]
    (tmp_path / "labels.csv").write_text("sub/b.png,cat\n a.wav , dog \n")  # no header; spaces stripped
    paths, targets = readers.read_manifest(tmp_path / "labels.csv", "image")
    assert [os.path.basename(p) for p in paths] == ["b.png", "a.wav"] and targets == ["cat", "dog"]
    (tmp_path / "short.csv").write_text("path,label\na.wav,x\nsub/b.png\n")
    with pytest.raises(toolkit.ToolkitError, match=r"rows without a second column \(lines \[2\]\)"):
        readers.read_manifest(tmp_path / "short.csv")
    (tmp_path / "gone.csv").write_text("a.wav,x\nnothere.wav,y\n")
    with pytest.raises(toolkit.ToolkitError, match="1 audio files listed in .* do not exist, e.g. .*nothere.wav"):
        readers.read_manifest(tmp_path / "gone.csv", "audio")
    (tmp_path / "empty.csv").write_text("path,label\n")
    with pytest.raises(toolkit.ToolkitError, match="has no rows"):
        readers.read_manifest(tmp_path / "empty.csv")


def test_each_task_name_is_declared_once_and_its_entry_point_carries_it():
    """The class's `task_name` is what it registers, saves and is called under; the package's entry point
    has the same name and loads the module that registers it."""
    import importlib.metadata

    from toolkit.saving import TASKS

    points = {point.name: point.value for point in importlib.metadata.entry_points(group="toolkit.tasks")}
    for name, module in points.items():
        cls = TASKS.get(name)
        assert cls.task_name == name and cls.__module__.startswith(module), (name, module, cls)
        assert TASKS.metadata(name)["description"] == cls.description and cls.description
    assert set(points) <= set(TASKS.available())
