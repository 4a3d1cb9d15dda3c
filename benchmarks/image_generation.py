"""Image generation on real data: digits (conditional GAN, VAE, autoencoder anomalies) and membrane crops.

    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/image_generation.py [--part digits|membrane|all]

Digits: scikit-learn's 8x8 digits, a seeded stratified split (60% train for the
generators, 40% held out). Quality is scored on the held-out images only:
- conditional GAN (defaults): KID / FID against held-out digits, beside the same
  network untrained; and the share of samples that the toolkit's own digits
  classifier (an `ImageClassifier`, trained on the same training images) labels
  as the asked-for digit (goal >= 0.90, in at most 15 minutes);
- VAE (defaults): held-out negative ELBO in nats per image, beside the untrained VAE;
- autoencoder trained on digits 0-8: ROC AUC of its anomaly scores for held-out 9s
  against held-out 0-8 (goal >= 0.90).
Membrane: 2,000 random 64x64 crops of the 30 training photos, VAE and GAN
(unconditional: the feature classifier learns rotations), 30 epochs at most,
scored on 400 crops of the 30 separate test photos; grids saved.
Sample grids go to benchmarks/results/. Prints one JSON line per model.
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from sklearn.model_selection import train_test_split  # noqa: E402

from tasks import ImageClassifier, ImageGenerator  # noqa: E402
from tasks.image_classification.data import digits  # noqa: E402
from tasks.image_generation import quality  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


def peak_mib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def report(name, **values):
    print(json.dumps({"model": name, **values, "peak_rss_mib": peak_mib()}), flush=True)


def digits_part(save_dir):
    x, y, _ = digits()
    y = np.array(y)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, stratify=y, random_state=0)

    start = time.time()
    judge = ImageClassifier(backbone="lenet", save_dir=save_dir, verbose=0).fit((x_train, y_train))
    judge_accuracy = judge.evaluate((x_test, y_test))["accuracy"]
    report(
        "digits judge (ImageClassifier lenet)",
        test_accuracy=round(judge_accuracy, 4),
        seconds=round(time.time() - start),
    )

    start = time.time()
    gan = ImageGenerator(kind="gan", save_dir=save_dir, verbose=0, test_split=0).fit((x_train, y_train))
    seconds = time.time() - start
    held_out = gan.evaluate((x_test, y_test))
    before = gan._untrained(gan.seed + 7).evaluate((x_test, y_test))
    asked, judged = [], []
    for digit in gan.classes_:
        samples = gan.sample(100, seed=11, label=digit)
        asked += [digit] * len(samples)
        judged += [answer["label"] for answer in judge.predict(samples)]
    judge_agreement = float(np.mean(np.array(asked) == np.array(judged)))
    shutil.copy(pathlib.Path(gan.run_dir) / "samples.png", RESULTS / "digits_cgan_samples.png")
    report(
        "digits conditional GAN (defaults)",
        epochs=len(gan.history_["epoch"]),
        seconds=round(seconds),
        judge_labels_as_asked=round(judge_agreement, 4),
        own_classifier_conditional_accuracy=round(held_out["conditional_accuracy"], 4),
        kid=round(held_out["kid"], 4),
        kid_untrained=round(before["kid"], 4),
        fid=round(held_out["fid"], 3),
        fid_untrained=round(before["fid"], 3),
        feature_classifier_accuracy=round(gan.metrics_["data"]["feature_classifier_accuracy"], 4),
    )

    start = time.time()
    vae = ImageGenerator(kind="vae", save_dir=save_dir, verbose=0, test_split=0).fit((x_train, y_train))
    seconds = time.time() - start
    held_out = vae.evaluate((x_test, y_test))
    before = vae._untrained(vae.seed + 7).evaluate((x_test, y_test))
    shutil.copy(pathlib.Path(vae.run_dir) / "samples.png", RESULTS / "digits_vae_samples.png")
    quality.write_grid(vae.interpolate(x_test[0], x_test[1], steps=8), RESULTS / "digits_vae_interpolation.png", 8)
    report(
        "digits VAE (defaults)",
        epochs=len(vae.history_["epoch"]),
        seconds=round(seconds),
        negative_elbo=round(held_out["negative_elbo"], 2),
        negative_elbo_untrained=round(before["negative_elbo"], 2),
        reconstruction_mse=round(held_out["reconstruction_mse"], 4),
    )

    start = time.time()
    normal = y_train != "9"
    auto = ImageGenerator(kind="autoencoder", save_dir=save_dir, verbose=0, test_split=0).fit(x_train[normal])
    seconds = time.time() - start
    scored = auto.evaluate(x_test[y_test != "9"], anomalies=x_test[y_test == "9"])
    report(
        "digits autoencoder, 0-8 normal, 9 anomalous",
        epochs=len(auto.history_["epoch"]),
        seconds=round(seconds),
        roc_auc=round(scored["roc_auc"], 4),
        detection_rate=round(scored["detection_rate"], 4),
        false_alarm_rate=round(scored["false_alarm_rate"], 4),
        held_out_normal=int((y_test != "9").sum()),
        held_out_nines=int((y_test == "9").sum()),
    )


def membrane_crops(folder, count, size, seed):
    from PIL import Image

    folder = DATA / "membrane" / folder
    if not folder.exists():
        sys.exit(f"membrane images not found under {folder}; set TOOLKIT_DATA")
    photos = [np.asarray(Image.open(p).convert("L")) for p in sorted(folder.iterdir())]
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        top, left = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        crops.append(photo[top : top + size, left : left + size])
    return np.stack(crops)[..., None]


def membrane_part(save_dir):
    crops = membrane_crops("train/image", 2000, 64, seed=0)
    held_out = membrane_crops("test", 400, 64, seed=1)  # the 30 test photos: never trained on
    for kind, kwargs in (
        ("vae", {"likelihood": "gaussian", "depth": 3}),
        ("gan", {"depth": 3, "augment": ("translation", "cutout")}),
    ):
        start = time.time()
        gen = ImageGenerator(kind=kind, save_dir=save_dir, verbose=0, test_split=0, epochs=30, **kwargs).fit(crops)
        seconds = time.time() - start
        scores = gen.evaluate(held_out)
        before = gen._untrained(gen.seed + 7).evaluate(held_out)
        shutil.copy(pathlib.Path(gen.run_dir) / "samples.png", RESULTS / f"membrane_{kind}_samples.png")
        key = "negative_elbo" if kind == "vae" else "kid"
        extra = {"fid": round(scores["fid"], 3), "fid_untrained": round(before["fid"], 3)} if kind == "gan" else {}
        report(
            f"membrane 64x64 crops {kind} {kwargs}",
            epochs=len(gen.history_["epoch"]),
            seconds=round(seconds),
            **{key: round(scores[key], 4), f"{key}_untrained": round(before[key], 4)},
            **extra,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("digits", "membrane", "all"), default="all")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    save_dir = tempfile.mkdtemp(prefix="image-generation-benchmark-")
    if args.part in ("digits", "all"):
        digits_part(save_dir)
    if args.part in ("membrane", "all"):
        membrane_part(save_dir)


if __name__ == "__main__":
    main()
