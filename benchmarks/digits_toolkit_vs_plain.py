"""Digits: the toolkit's default run against a plain hand-written Keras script.

Both train the same VGG-style network on the same split of scikit-learn's
bundled digits, with the same epochs and batch size, each in a fresh Python
process (so neither benefits from the other's warm caches). The toolkit run
keeps everything it does for users (callbacks writing checkpoints, backups
and history, per-class metrics, atomic saves) but early stopping is given a
patience larger than the epoch budget so both do the same number of epochs.

    python benchmarks/digits_toolkit_vs_plain.py [--epochs 20] [--repeats 3]

Prints one JSON line per run and a summary line with the time ratio.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

TOOLKIT = r"""
import json, sys, time
t0 = time.perf_counter()
import toolkit  # noqa
from tasks import train_image_classifier
t1 = time.perf_counter()
clf = train_image_classifier(epochs={epochs}, batch_size={batch_size}, patience={epochs} + 1, verbose=0, save_dir={save_dir!r})
t2 = time.perf_counter()
print(json.dumps({{"run": "toolkit", "test_accuracy": clf.metrics_["test"]["accuracy"], "epochs": len(clf.history_["loss"]), "seconds": t2 - t1, "import_seconds": t1 - t0}}))
"""

PLAIN = r"""
import json, os, time
t0 = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
t1 = time.perf_counter()
keras.utils.set_random_seed(0)
d = load_digits()
x = np.round(d.images * (255 / 16)).astype("float32")[..., None]
y = d.target
# the same split as the toolkit: 20% test, then 10% of the whole for validation, stratified
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.125, random_state=0, stratify=y_train)

def conv_bn(t, filters):
    t = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(t)
    t = keras.layers.BatchNormalization(momentum=0.9)(t)
    return keras.layers.Activation("relu")(t)

inputs = keras.Input((8, 8, 1))
t = keras.layers.Rescaling(1 / 255)(inputs)
for stage, filters in enumerate((32, 64, 128)):
    t = conv_bn(t, filters)
    t = conv_bn(t, filters)
    if stage == 0:
        t = keras.layers.MaxPooling2D()(t)
t = keras.layers.GlobalAveragePooling2D()(t)
t = keras.layers.Dropout(0.2)(t)
outputs = keras.layers.Dense(10, activation="softmax")(t)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs={epochs}, batch_size={batch_size}, verbose=0)
accuracy = float((model.predict(x_test, verbose=0).argmax(-1) == y_test).mean())
t2 = time.perf_counter()
print(json.dumps({{"run": "plain", "test_accuracy": accuracy, "epochs": {epochs}, "seconds": t2 - t1, "import_seconds": t1 - t0}}))
"""


def run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {"toolkit": [], "plain": []}
    with tempfile.TemporaryDirectory() as save_dir:
        for _ in range(args.repeats):
            for name, template in (("toolkit", TOOLKIT), ("plain", PLAIN)):
                result = run(template.format(epochs=args.epochs, batch_size=args.batch_size, save_dir=save_dir))
                results[name].append(result)
                print(json.dumps(result), flush=True)
    summary = {
        name: {
            "median_seconds": statistics.median(r["seconds"] for r in rows),
            "test_accuracy": [round(r["test_accuracy"], 4) for r in rows],
        }
        for name, rows in results.items()
    }
    summary["time_ratio_toolkit_over_plain"] = summary["toolkit"]["median_seconds"] / summary["plain"]["median_seconds"]
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
