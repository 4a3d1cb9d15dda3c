"""Training under tf.distribute (issue "Scale out on existing engines")."""

import json
import os
import signal
import subprocess
import sys

import pytest

import toolkit
from tasks import ImageClassifier

# The CPU split into two logical devices: what "mirrored" spreads over on a machine without GPUs.
TWO_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


def test_mirrored_on_two_logical_devices_splits_each_batch_keeps_replicas_equal_and_learns(tmp_path):
    child = (
        TWO_CPUS
        + """
import json, sys
import numpy as np
from tasks import ImageClassifier
from tasks.image_classification.data import digits
x, y, _ = digits()
common = dict(backbone="mlp", epochs=8, batch_size=16, verbose=0, save_dir=sys.argv[1])
one = ImageClassifier(run_name="one", **common).fit((x, y))
two = ImageClassifier(distribution="mirrored", run_name="two", **common).fit((x, y))
strategy = two._strategy
# The task's own training data, as the strategy hands it out: one slice of each global batch per replica.
splits = two.prepare_data((x, y), None)
batch = next(iter(strategy.experimental_distribute_dataset(two.keras_data(splits.train))))
images = [v.numpy() for v in strategy.experimental_local_results(batch[0])]
# Every variable's copies on the two devices, after training.
copies = [[c.numpy() for c in strategy.experimental_local_results(v.value)] for v in two.model_.trainable_variables]
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "devices": [str(v.device) for v in strategy.experimental_local_results(batch[0])],
    "slice_sizes": [len(i) for i in images],
    "slices_differ": bool(not np.array_equal(images[0], images[1])),
    "copies_equal": all(np.array_equal(c[0], c[1]) for c in copies) and all(len(c) == 2 for c in copies),
    "one": one.metrics_["test"]["accuracy"], "two": two.metrics_["test"]["accuracy"],
    "recorded": two.metrics_["distribution"],
}))
"""
    )
    done = subprocess.run([sys.executable, "-c", child, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["replicas"] == 2 and len(set(found["devices"])) == 2
    assert found["slice_sizes"] == [16, 16] and found["slices_differ"]  # batch_size per replica: 32 a step
    assert found["copies_equal"]
    assert found["recorded"] == {
        "strategy": "MirroredStrategy",
        "replicas": 2,
        "batch_size_per_replica": 16,
        "global_batch_size": 32,
    }
    # Digits: the same quality on two replicas as on one (both well above the 0.10 of guessing).
    assert found["one"] >= 0.9 and found["two"] >= 0.9 and abs(found["one"] - found["two"]) <= 0.03, found
    saved = json.loads((tmp_path / "image_classification" / "two" / "metrics.json").read_text())
    assert saved["distribution"]["global_batch_size"] == 32


@pytest.mark.parametrize(
    "distribution, tf_config, message",
    [
        ("cluster", None, "distribution='cluster' is not valid"),
        ("multi_worker", None, "needs the cluster in the TF_CONFIG environment variable, which is not set"),
        ("multi_worker", "{not json", "TF_CONFIG is not a cluster description"),
        ("tpu", None, "distribution='tpu' found no TPU"),
    ],
)
def test_a_distribution_that_cannot_run_here_is_a_clear_error(tmp_path, monkeypatch, distribution, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(toolkit.ToolkitError, match=message):
        ImageClassifier(backbone="mlp", distribution=distribution, save_dir=str(tmp_path)).fit("digits")
    assert not (tmp_path / "image_classification").exists()  # refused before any work


WORKER = """
import hashlib, json, os, signal, sys, keras
import numpy as np
from tasks import ImageClassifier
from tasks.image_classification.data import digits
save_dir, kill_at, trained = sys.argv[1], int(sys.argv[2]), []
class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == kill_at:  # this worker dies; its partner is left waiting in the next all-reduce
            os.kill(os.getpid(), signal.SIGKILL)
        trained.append(epoch)
x, y, _ = digits()
clf = ImageClassifier(backbone="mlp", epochs=4, batch_size=16, verbose=0, save_dir=save_dir, run_name="mw",
                      distribution="multi_worker", callbacks=[Kill()]).fit((x, y))
weights = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in clf.model_.get_weights())).hexdigest()
print(json.dumps({"trained_here": trained, "run_dir": clf.run_dir, "weights": weights,
                  "test": clf.metrics_["test"]["accuracy"], "distribution": clf.metrics_["distribution"]}))
"""


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(save_dir, kill_at=(-1, -1)):
    ports = _free_ports(2)
    workers = []
    for index in range(2):
        config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        command = [sys.executable, "-c", WORKER, str(save_dir), str(kill_at[index])]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def _results(workers):
    found = []
    for worker in workers:
        out, err = worker.communicate()
        assert worker.returncode == 0, err[-3000:]
        found.append(json.loads(out.splitlines()[-1]))
    return found


def test_two_workers_on_localhost_train_one_model_and_a_killed_worker_resumes_from_the_backup(tmp_path):
    # Two processes, each a worker of TF_CONFIG's cluster on 127.0.0.1, train one model in step.
    straight = _results(_start_workers(tmp_path / "straight"))
    assert [r["trained_here"] for r in straight] == [[0, 1, 2, 3]] * 2
    assert straight[0]["weights"] == straight[1]["weights"]  # one model, kept equal by the all-reduce
    assert straight[0]["distribution"]["replicas"] == 2 and straight[0]["distribution"]["global_batch_size"] == 32
    assert straight[0]["test"] >= 0.9
    run = tmp_path / "straight" / "image_classification" / "mw"
    assert straight[1]["run_dir"] == str(run)  # the other worker's own folder was removed at the end
    assert (run / "finished.json").exists() and not (run / "workers").exists()

    # Worker 1 is killed at the start of epoch 3; worker 0 waits in its next all-reduce until the
    # job is restarted (here: killed too, as a cluster manager would), then both rerun and resume.
    first, second = _start_workers(tmp_path / "cut", kill_at=(-1, 2))
    second.wait()
    assert second.returncode == -signal.SIGKILL
    first.kill()
    first.wait()
    resumed = _results(_start_workers(tmp_path / "cut"))
    assert [r["trained_here"] for r in resumed] == [[2, 3]] * 2  # both resumed from their backups
    assert resumed[0]["weights"] == resumed[1]["weights"]
    assert resumed[0]["test"] >= 0.9


def test_a_search_served_by_a_chief_runs_each_trial_once_on_two_workers_and_the_chief_trains_the_winner(tmp_path):
    import csv

    # Three real processes on 127.0.0.1: the chief (`toolkit train ... --chief`) and two `toolkit tune-worker`s.
    port = _free_ports(1)[0]
    common = ["--tune", "--max-trials", "4", "--epochs", "1", "--backbone", "mlp", "--run-name", "s"]
    common += ["--save-dir", str(tmp_path), "--verbose", "0"]
    toolkit_command = [sys.executable, "-m", "toolkit.cli"]
    chief = subprocess.Popen(
        [*toolkit_command, "train", "image-classification", *common, "--chief", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers = [
        subprocess.Popen(
            [*toolkit_command, "tune-worker", "image-classification", *common]
            + ["--oracle", f"127.0.0.1:{port}", "--worker-id", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("w1", "w2")
    ]
    ran = []
    for worker in workers:
        out, err = worker.communicate()
        assert worker.returncode == 0, err[-3000:]
        ran += json.loads(out.splitlines()[-1])["trials"]
    out, err = chief.communicate()
    assert chief.returncode == 0, err[-3000:]
    reported = json.loads(out.splitlines()[-1])
    with open(tmp_path / "image_classification" / "s" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(ran) == sorted(row["trial_id"] for row in rows) and len(rows) == 4  # each trial once
    assert all(row["status"] == "COMPLETED" for row in rows)
    best = rows[0]  # best first
    assert float(best["val_loss"]) == min(float(row["val_loss"]) for row in rows)
    for name, value in reported["best_hyperparameters"].items():
        assert best[name] == str(value), name  # the winner the chief trained is the best trial
    assert reported["test"]["accuracy"] > 0.5


def test_distributed_search_misuse_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from toolkit import cli

    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["train", "image-classification", "--chief", "127.0.0.1:8000", "--save-dir", str(tmp_path)]) == 2
    assert "--chief serves a hyperparameter search, and this run has none" in capsys.readouterr().err
    assert cli.main(["tune-worker", "image-classification", "--tune", "--oracle", "8000"]) == 2
    assert "'8000' is not a HOST:PORT address" in capsys.readouterr().err
    with pytest.raises(toolkit.ToolkitError, match="not a worker of a distributed search"):
        ImageClassifier(backbone="mlp", tune=True, run_name="s").tune_worker("digits")
    assert not (tmp_path / "image_classification").exists()


def test_every_task_family_trains_and_scores_on_two_logical_devices(tmp_path):
    # Text (string inputs), segmentation (a last batch of one example: one replica would get none),
    # speech classification and speech-to-text (CTC, padded batches) and image generation (its own
    # train_step), each for two epochs on two replicas.
    child = (
        TWO_CPUS
        + """
import json, sys
from tasks import ImageGenerator, ImageSegmenter, SpeechClassifier, SpeechRecognizer, TextClassifier
from tasks.image_classification.data import digits
from tasks.image_segmentation.data import shapes
from tests.tasks.test_speech_classification import RATE, tones
from tests.tasks.test_speech_recognition import tone_words
from tests.tasks.test_text_classification import toy_texts
common = dict(epochs=2, verbose=0, save_dir=sys.argv[1], distribution="mirrored")
x, y, _ = shapes(count=48, size=32)
digit_images, digit_labels, _ = digits()
waves, labels = tones()
words, texts = tone_words(24)
runs = {
    "text": TextClassifier(backbone="cnn", embedding_dim=16, width=8, **common).fit(toy_texts()),
    "segmentation": ImageSegmenter(backbone="unet", width=4, depth=2, image_size=32, batch_size=8, **common).fit((x, y)),
    "speech": SpeechClassifier(backbone="lenet", width=8, **common).fit((waves, labels, RATE)),
    "speech_to_text": SpeechRecognizer(width=16, num_layers=1, **common).fit((words, texts, RATE)),
    "generation": ImageGenerator(**common).fit((digit_images[:200], digit_labels[:200])),
}
print(json.dumps({name: [run.metrics_["distribution"]["replicas"], sorted(run.metrics_["test"] or {})]
                  for name, run in runs.items()}))
"""
    )
    done = subprocess.run([sys.executable, "-c", child, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert sorted(found) == ["generation", "segmentation", "speech", "speech_to_text", "text"]
    for name, (replicas, scores) in found.items():
        assert replicas == 2 and scores, name  # trained on two replicas and scored on its test split
