"""Defaults that learn: each data set trained with `toolkit train <task> --data X` and nothing else.

    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/defaults.py [--only NAME ...] [--seeds S ...]

As a new user would run it: the installed `toolkit` command, no option but the
data. Each line reports the held-out test score the run printed (data that
training and early stopping never saw), the trivial baseline on that same test
data (always answering its most common class), the epochs run, and the time.
Data sets the toolkit does not ship as defaults:
- shapes1000 / shapes240: generated folders of four coloured shapes on noisy
  backgrounds, mixed sizes, grey / RGB / RGBA PNG and JPEG
  (`benchmarks/shape_folder.py`; goals: test accuracy >= 0.90 and >= 0.70). Their
  test parts are small (200 and 48 images: one image of 48 is 2 points), so each
  run is also scored on 800 new images from the same generator (another seed),
  which no run has seen: `fresh_accuracy`;
- digits: scikit-learn's 8x8 digits written out as a PNG class folder;
- sst2: SST-2 train.tsv (a seeded split holds out test and validation);
- fsdd: the Free Spoken Digit Dataset's 3,000 recordings (labels from the names);
- membrane: the 30 labelled membrane photos (segmentation; pixel accuracy
  against always answering the majority pixel class).
- photos: the only real photos available offline here, scikit-learn's two
  bundled pictures (china.jpg, flower.jpg), as a folder of 400 random crops
  (48-160 px a side, some scaled down, JPEG) labelled by the picture they
  come from. An easy task, but real camera images through the whole folder
  path; TFDS's mock data is random pixels, which no model can be above
  chance on.
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


def photo_crops(root, count=400, seed=2):
    """`count` random JPEG crops of scikit-learn's two sample photos, one class folder per photo."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    rng = np.random.default_rng(seed)
    for i in range(count):
        k = i % len(photos.images)
        photo = photos.images[k]
        side = int(rng.integers(48, 161))
        top, left = (int(rng.integers(0, photo.shape[j] - side)) for j in (0, 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side])
        if rng.random() < 0.5:  # mixed sizes, as a folder of phone pictures would have
            crop = crop.resize((max(24, side // 2), max(24, int(side * rng.uniform(0.4, 0.7)))))
        name = pathlib.Path(photos.filenames[k]).stem
        (root / name).mkdir(parents=True, exist_ok=True)
        crop.save(root / name / f"{name}_{i:04d}.jpg", quality=90)
    return root


def datasets(root):
    from shape_folder import write_shape_folder

    return {
        "shapes1000": ("image-classification", lambda: write_shape_folder(root / "shapes1000", 1000, seed=0)),
        "shapes240": ("image-classification", lambda: write_shape_folder(root / "shapes240", 240, seed=1)),
        "shapes_fresh": (None, lambda: write_shape_folder(root / "shapes_fresh", 800, seed=77)),
        "digits": ("image-classification", lambda: digits_folder(root / "digits")),
        "sst2": ("text-classification", lambda: DATA / "sst2" / "train.tsv"),
        "fsdd": ("speech-classification", lambda: DATA / "fsdd" / "recordings"),
        "membrane": ("image-segmentation", lambda: DATA / "membrane" / "train"),
        "photos": ("image-classification", lambda: photo_crops(root / "photos")),
    }


def majority_share(test_metrics):
    matrix = np.asarray(test_metrics["confusion_matrix"], dtype=float)
    return float(matrix.sum(axis=1).max() / matrix.sum())


def run(name, task, data, save_dir, seed=None, fresh=None):
    toolkit = pathlib.Path(sys.executable).with_name("toolkit")
    seeded = [] if seed is None else ["--seed", str(seed)]
    command = [str(toolkit), "train", task, "--data", str(data), "--save-dir", str(save_dir), *seeded]
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
    scored = {}
    if fresh is not None:  # 800 images no run has seen, scored by the saved run
        import toolkit as toolkit_lib

        fresh_metrics = toolkit_lib.load(run_dir).evaluate(str(fresh))
        scored = {"fresh_accuracy": round(fresh_metrics["accuracy"], 4), "fresh_images": 800}
    return {
        "data": name,
        "command": " ".join(["toolkit", "train", task, "--data", str(data), *seeded]),
        f"test_{key}": round(metrics["test"][key], 4),
        "baseline_on_test": round(majority_share(metrics["test"]), 4),
        "validation_better_than_majority": metrics.get("baseline", {}).get("better_than_majority"),
        "epochs": epochs,
        "seconds": round(seconds),
        "train_examples": metrics["data"]["train_examples"],
        "test_examples": metrics["data"]["test_examples"],
        **scored,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, help="data set names to run (default: all)")
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=None, help="run each with --seed S (each seed also draws its own split)"
    )
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="defaults-benchmark-"))
    sets = datasets(root)
    fresh = None
    for name, (task, make) in sets.items():
        if task is None or (args.only and name not in args.only):
            continue
        if name.startswith("shapes") and fresh is None:
            fresh = sets["shapes_fresh"][1]()
        data = make()
        for seed in args.seeds or [None]:
            result = run(name, task, data, root / "runs", seed, fresh if name.startswith("shapes") else None)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
