"""A damaged run folder gives a clear error naming the file (issue "Run folders that survive ...")."""

import json
import pathlib
import shutil

import keras
import pytest

import toolkit
from tasks import ImageClassifier
from tasks.image_classification.data import digits
from toolkit import cli, runs

DIGITS_X, DIGITS_Y, _ = digits()


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("runs")
    clf = ImageClassifier(backbone="mlp", epochs=1, verbose=0, save_dir=str(save_dir))
    return clf.fit((DIGITS_X[:120], DIGITS_Y[:120])).run_dir


def _copy(good_run, tmp_path):
    return shutil.copytree(good_run, tmp_path / "run")


def _lambda_model(path):
    inputs = keras.Input((8, 8, 1))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda run: (run / runs.MODEL_FILE).write_bytes(b""), r"model.keras' is damaged \(0 bytes"),
        (lambda run: (run / runs.MODEL_FILE).write_bytes((run / runs.MODEL_FILE).read_bytes()[:2000]), "is damaged"),
        (lambda run: (run / runs.CONFIG_FILE).write_text('{"task": "image-class'), "config.json' is damaged"),
        (
            lambda run: (run / runs.CONFIG_FILE).write_text(json.dumps({"task": "image-classification"})),
            "config.json' is incomplete: it lacks 'params', 'fitted'",
        ),
        (lambda run: _lambda_model(run / runs.MODEL_FILE), "holds Python code .* loading it was refused"),
    ],
    ids=["empty-model", "truncated-model", "truncated-config", "config-without-params", "lambda-layer"],
)
def test_a_damaged_file_is_named_in_python_and_in_the_cli(good_run, tmp_path, capsys, damage, message):
    run = _copy(good_run, tmp_path)
    damage(run)
    with pytest.raises(toolkit.ToolkitError, match=message):
        toolkit.load(run)
    capsys.readouterr()
    assert cli.main(["predict", str(run), "x.png"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "File not found" not in err and str(run) in err, err


def test_a_damaged_metrics_file_still_loads_the_model_with_a_warning(good_run, tmp_path):
    run = _copy(good_run, tmp_path)
    (run / runs.METRICS_FILE).write_text('{"test": {"accur')
    with pytest.warns(UserWarning, match="metrics.json' is damaged"):
        loaded = toolkit.load(run)
    assert loaded.metrics_ is None and loaded.predict(DIGITS_X[:2])[0]["label"] in loaded.classes_


def test_a_run_that_fails_before_writing_anything_leaves_no_folder(tmp_path):
    def explode(*args, **kwargs):
        raise RuntimeError("the model could not be built")

    clf = ImageClassifier(backbone="mlp", epochs=1, verbose=0, save_dir=str(tmp_path), run_name="failed")
    clf._new_model = explode
    with pytest.raises(RuntimeError, match="could not be built"):
        clf.fit((DIGITS_X[:120], DIGITS_Y[:120]))
    assert not (tmp_path / "image_classification" / "failed").exists()


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_run(good_run, tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    run = tmp_path / "image_classification" / "resumed"
    run.mkdir(parents=True)
    leftover = run / f".tmp-{pid}-model.keras"
    leftover.write_bytes(b"half a model")
    ImageClassifier(backbone="mlp", epochs=1, verbose=0, save_dir=str(tmp_path), run_name="resumed").fit(
        (DIGITS_X[:120], DIGITS_Y[:120])
    )
    assert not leftover.exists() and (run / runs.MODEL_FILE).exists()


def test_two_processes_one_run_name_second_is_refused_and_a_killed_owner_is_reclaimed(tmp_path, capsys):
    import signal
    import subprocess
    import sys

    run = tmp_path / "image_classification" / "shared"
    run.mkdir(parents=True)
    holder = (
        "import sys; from toolkit import runs; runs.RunLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); sys.stdin.read()"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", holder, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout.readline().strip() == "locked"
        argv = ["train", "image-classification", "--backbone", "mlp", "--epochs", "1", "--verbose", "0"]
        argv += ["--save-dir", str(tmp_path), "--run-name", "shared"]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"is in use by another training process (pid {owner.pid}" in err and "Traceback" not in err
        assert not (run / "history.csv").exists()  # the refused run wrote nothing
        owner.send_signal(signal.SIGKILL)  # the owner dies without releasing its lock
        owner.wait()
        assert cli.main(argv) == 0, capsys.readouterr().err  # the stale lock is reclaimed
        assert (run / runs.MODEL_FILE).exists() and not (run / runs.LOCK_FILE).exists()
    finally:
        owner.kill()
        owner.wait()


def test_a_run_killed_between_its_model_and_its_metrics_is_completed_not_called_finished(tmp_path):
    import signal
    import subprocess
    import sys

    # A real process, really killed (SIGKILL) the moment it starts writing metrics.json.
    child = f"""
import os, signal
from toolkit import files, runs
from tasks import ImageClassifier
from tasks.image_classification.data import digits
write = files.write_json
def killing_write(path, data):
    if os.path.basename(path) == runs.METRICS_FILE:
        os.kill(os.getpid(), signal.SIGKILL)
    write(path, data)
files.write_json = killing_write
x, y, _ = digits()
ImageClassifier(backbone="mlp", epochs=1, verbose=0, save_dir={str(tmp_path)!r}, run_name="cut").fit((x[:120], y[:120]))
"""
    killed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run = tmp_path / "image_classification" / "cut"
    assert (run / runs.MODEL_FILE).exists() and not (run / runs.METRICS_FILE).exists()
    done = ImageClassifier(backbone="mlp", epochs=1, verbose=0, save_dir=str(tmp_path), run_name="cut").fit(
        (DIGITS_X[:120], DIGITS_Y[:120])
    )
    assert done.metrics_["test"]["accuracy"] >= 0 and (run / runs.METRICS_FILE).exists()
    assert (run / runs.FINISHED_FILE).exists() and not (run / runs.CHECKPOINT_DIR).exists()
    with pytest.raises(toolkit.ToolkitError, match="already holds a finished run"):
        ImageClassifier(backbone="mlp", epochs=1, verbose=0, save_dir=str(tmp_path), run_name="cut").fit(
            (DIGITS_X[:120], DIGITS_Y[:120])
        )


def test_a_backup_killed_during_its_first_write_never_blocks_the_run(tmp_path):
    import signal
    import subprocess
    import sys

    # A real process, really killed while writing its first backup (after 200 bytes of it).
    child = f"""
import os, signal, keras
from tasks import ImageClassifier
from tasks.image_classification.data import digits
save = keras.Model.save_weights
def dying_save(self, filepath, *args, **kwargs):
    if "backup" in str(filepath):
        open(filepath, "wb").write(b"x" * 200)
        os.kill(os.getpid(), signal.SIGKILL)
    return save(self, filepath, *args, **kwargs)
keras.Model.save_weights = dying_save
x, y, _ = digits()
ImageClassifier(backbone="mlp", epochs=3, verbose=0, save_dir={str(tmp_path)!r}, run_name="r").fit((x[:120], y[:120]))
"""
    killed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    backup = tmp_path / "image_classification" / "r" / runs.CHECKPOINT_DIR / "phase_0_backup"
    assert not (backup / "latest.weights.h5").exists()  # the half-written file kept its temporary name
    rerun = ImageClassifier(backbone="mlp", epochs=3, verbose=0, save_dir=str(tmp_path), run_name="r")
    assert rerun.fit((DIGITS_X[:120], DIGITS_Y[:120])).metrics_["test"]["accuracy"] >= 0
    assert not list((tmp_path / "image_classification" / "r").rglob(".tmp-*"))  # the dead writer's file is gone


def test_a_truncated_backup_falls_back_to_a_fresh_phase_with_a_warning(tmp_path):
    run = tmp_path / "image_classification" / "old"
    backup = run / runs.CHECKPOINT_DIR / "phase_0_backup"
    backup.mkdir(parents=True)
    (backup / "latest.weights.h5").write_bytes(b"\x89HDF\r\n" + b"\0" * 90)  # what Keras' in-place write left
    (backup / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    with pytest.warns(UserWarning, match="could not be read .* starts again from its beginning"):
        clf = ImageClassifier(backbone="mlp", epochs=2, verbose=0, save_dir=str(tmp_path), run_name="old")
        clf.fit((DIGITS_X[:120], DIGITS_Y[:120]))
    assert len(clf.history_["loss"]) == 2 and (run / runs.FINISHED_FILE).exists()


def test_a_full_disk_is_a_clear_error_and_the_last_whole_backup_stays(tmp_path, monkeypatch, capsys):
    import errno

    save = keras.Model.save_weights
    backups = []

    def save_until_the_disk_fills(self, filepath, *args, **kwargs):
        if "backup" in str(filepath):
            backups.append(filepath)
            if len(backups) == 2:  # the second epoch's backup finds the disk full, part-way through
                pathlib.Path(filepath).write_bytes(b"x" * 100)
                raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", save_until_the_disk_fills)
    argv = ["train", "image-classification", "--backbone", "mlp", "--epochs", "3", "--verbose", "0"]
    assert cli.main([*argv, "--save-dir", str(tmp_path), "--run-name", "full"]) == 2
    err = capsys.readouterr().err
    assert "is full" in err and "this run needs about" in err and "Traceback" not in err, err
    backup = tmp_path / "image_classification" / "full" / runs.CHECKPOINT_DIR / "phase_0_backup"
    probe = ImageClassifier(backbone="mlp", verbose=0)
    probe.classes_, probe.image_size_, probe.channels_, probe.augment_ = [str(i) for i in range(10)], (8, 8), 1, ()
    probe._new_model().load_weights(backup / "latest.weights.h5")  # the first epoch's backup, whole
    assert not list(backup.parent.parent.rglob(".tmp-*"))  # the half-written file is gone


# Shuffled data, augmentation drawn in tf.data (segmentation) and in the model (image classification's
# layers), dropout, and a two-phase strategy killed in its second phase.
RESUMABLE = {
    "image": (
        "from tasks import ImageClassifier as Task\n"
        "from tasks.image_classification.data import digits\n"
        "x, y, _ = digits(); data = (x[:200], y[:200])\n"
        "kwargs = dict(backbone='mlp', dropout=0.3, augment=['flip', 'rotation'], finetune='freeze_then_unfreeze')\n"
    ),
    "segmentation": (
        "from tasks import ImageSegmenter as Task\n"
        "from tasks.image_segmentation.data import shapes\n"
        "x, y, _ = shapes(count=48, size=32); data = (x, y)\n"
        "kwargs = dict(backbone='unet', width=4, depth=2, image_size=32)\n"
    ),
}


@pytest.mark.parametrize("task", sorted(RESUMABLE))
def test_a_run_killed_at_epoch_k_ends_exactly_as_an_uninterrupted_one(tmp_path, task):
    import signal
    import subprocess
    import sys

    # The data order, the augmentation draws and the layers' random state are restored with the backup,
    # so a resumed run is the same computation: its history and scores are equal, not merely close.
    child = (
        "import json, os, signal, sys, keras\n"
        + RESUMABLE[task]
        + """
kill_at, trained = int(sys.argv[2]), []
class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == kill_at:  # after the backup of the epoch before
            os.kill(os.getpid(), signal.SIGKILL)
        trained.append(epoch)
run = Task(epochs=5, verbose=0, save_dir=sys.argv[1], run_name="r", callbacks=[Kill()], **kwargs).fit(data)
print(json.dumps({"trained_here": trained, "history": run.history_, "test": run.metrics_["test"]}))
"""
    )

    def run(save_dir, kill_at):
        return subprocess.run(
            [sys.executable, "-c", child, str(save_dir), str(kill_at)], capture_output=True, text=True
        )

    straight = run(tmp_path / "straight", -1)
    assert straight.returncode == 0, straight.stderr[-2000:]
    killed = run(tmp_path / "cut", 3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed = run(tmp_path / "cut", -1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    before, after = json.loads(straight.stdout.splitlines()[-1]), json.loads(resumed.stdout.splitlines()[-1])
    assert before.pop("trained_here") == [0, 1, 2, 3, 4] and after.pop("trained_here") == [3, 4]  # resumed
    assert len(after["history"]["loss"]) == 5
    assert after == before
