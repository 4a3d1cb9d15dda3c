"""Scaling out on this machine: training on one vs two logical CPU devices, a search with one vs two workers.

    python benchmarks/distributed.py            # both parts
    python benchmarks/distributed.py --part training
    python benchmarks/distributed.py --part search

Training: digits (1,797 8x8 images, a seeded 20% test split), a VGG of width 16, 10 epochs,
batch size 32 per replica, with `distribution=None` and with `"mirrored"` after the CPU is
split into two logical devices; steps and examples per second over the whole fit.
Search: `toolkit train image-classification --tune --chief` with 6 trials of 3 epochs,
served to one and then two `toolkit tune-worker` processes on 127.0.0.1; wall time from the
chief's start to its end. Prints one JSON line per measurement.

On two cores neither part can be much faster: this shows the machinery works and what it costs.
"""

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time

TRAINING = """
import json, sys, time
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from tasks import ImageClassifier
from tasks.image_classification.data import digits

class Clock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.start, self.steps = time.time(), 0
    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
    def on_train_end(self, logs=None):
        self.seconds = time.time() - self.start

x, y, _ = digits()
distribution = None if sys.argv[2] == "none" else sys.argv[2]
clock = Clock()
clf = ImageClassifier(backbone="vgg", width=16, epochs=10, patience=100, batch_size=32, verbose=0, save_dir=sys.argv[1],
                      distribution=distribution, callbacks=[clock]).fit((x, y))
replicas = clf.metrics_["distribution"]["replicas"]
print(json.dumps({"part": "training", "distribution": sys.argv[2], "replicas": replicas,
                  "steps_per_second": round(clock.steps / clock.seconds, 1),
                  "examples_per_second": round(clock.steps * 32 * replicas / clock.seconds),
                  "fit_seconds": round(clock.seconds, 1), "test_accuracy": round(clf.metrics_["test"]["accuracy"], 4)}))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def training():
    for distribution in ("none", "mirrored"):
        out = subprocess.run(
            [sys.executable, "-c", TRAINING, tempfile.mkdtemp(), distribution], capture_output=True, text=True
        )
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        print(out.stdout.splitlines()[-1], flush=True)


def search(workers):
    save_dir, port = tempfile.mkdtemp(), free_port()
    common = ["--tune", "--max-trials", "6", "--epochs", "3", "--backbone", "mlp", "--run-name", "s"]
    common += ["--save-dir", save_dir, "--verbose", "0"]
    cli = [sys.executable, "-m", "toolkit.cli"]
    start = time.time()
    chief = subprocess.Popen(
        [*cli, "train", "image-classification", *common, "--chief", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = [
        subprocess.Popen(
            [*cli, "tune-worker", "image-classification", *common, "--oracle", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    trials = []
    for worker in started:
        out, err = worker.communicate()
        if worker.returncode:
            raise SystemExit(err[-3000:])
        trials.append(len(json.loads(out.splitlines()[-1])["trials"]))
    out, err = chief.communicate()
    if chief.returncode:
        raise SystemExit(err[-3000:])
    found = json.loads(out.splitlines()[-1])
    print(
        json.dumps(
            {
                "part": "search",
                "workers": workers,
                "trials_per_worker": trials,
                "wall_seconds": round(time.time() - start, 1),
                "best": found["best_hyperparameters"],
                "test_accuracy": round(found["test"]["accuracy"], 4),
            }
        ),
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("training", "search", "both"), default="both")
    args = parser.parse_args()
    if args.part in ("training", "both"):
        training()
    if args.part in ("search", "both"):
        for workers in (1, 2):
            search(workers)


if __name__ == "__main__":
    main()
