"""Defaults that learn: each data set trained with `toolkit train <task> --data X` and nothing else.

    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/defaults.py [--only NAME ...]

As a new user would run it: the installed `toolkit` command, no option but the
data. Each line reports the held-out test score the run printed (data that
training and early stopping never saw), the trivial baseline on that same test
data (always answering its most common class), the epochs run, and the time.
Data sets the toolkit does not ship as defaults:
- shapes1000 / shapes240: generated folders of four coloured shapes on noisy
  backgrounds, mixed sizes, grey / RGB / RGBA PNG and JPEG
  (`benchmarks/shape_folder.py`; goals: test accuracy >= 0.90 and >= 0.70);
- digits: scikit-learn's 8x8 digits written out as a PNG class folder;
- sst2: SST-2 train.tsv (a seeded split holds out test and validation);
- fsdd: the Free Spoken Digit Dataset's 3,000 recordings (labels from the names);
- membrane: the 30 labelled membrane photos (segmentation; pixel accuracy
  against always answering the majority pixel class).
A folder of real photos was not run: none is available offline here (TFDS's
mock data is random pixels, which no model can be above chance on).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", HERE.parents[1] / "shared" / "data"))


def digits_folder(root):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
    return root


def datasets(root):
    from shape_folder import write_shape_folder

    return {
        "shapes1000": ("image-classification", lambda: write_shape_folder(root / "shapes1000", 1000, seed=0)),
        "shapes240": ("image-classification", lambda: write_shape_folder(root / "shapes240", 240, seed=1)),
        "digits": ("image-classification", lambda: digits_folder(root / "digits")),
        "sst2": ("text-classification", lambda: DATA / "sst2" / "train.tsv"),
        "fsdd": ("speech-classification", lambda: DATA / "fsdd" / "recordings"),
        "membrane": ("image-segmentation", lambda: DATA / "membrane" / "train"),
    }


def majority_share(test_metrics):
    matrix = np.asarray(test_metrics["confusion_matrix"], dtype=float)
    return float(matrix.sum(axis=1).max() / matrix.sum())


def run(name, task, data, save_dir):
    toolkit = pathlib.Path(sys.executable).with_name("toolkit")
    command = [str(toolkit), "train", task, "--data", str(data), "--save-dir", str(save_dir)]
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.time() - start
    if result.returncode != 0:
        return {"data": name, "error": result.stderr[-2000:]}
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    run_dir = pathlib.Path(summary["run_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    epochs = len((run_dir / "history.csv").read_text().strip().splitlines()) - 1
    key = "accuracy" if "accuracy" in metrics["test"] else "pixel_accuracy"
    return {
        "data": name,
        "command": " ".join(["toolkit", "train", task, "--data", str(data)]),
        f"test_{key}": round(metrics["test"][key], 4),
        "baseline_on_test": round(majority_share(metrics["test"]), 4),
        "validation_better_than_majority": metrics.get("baseline", {}).get("better_than_majority"),
        "epochs": epochs,
        "seconds": round(seconds),
        "train_examples": metrics["data"]["train_examples"],
        "test_examples": metrics["data"]["test_examples"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, help="data set names to run (default: all)")
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="defaults-benchmark-"))
    for name, (task, make) in datasets(root).items():
        if args.only and name not in args.only:
            continue
        print(json.dumps(run(name, task, make(), root / "runs")), flush=True)


if __name__ == "__main__":
    main()
