"""Object detection's building blocks on raccoon, before the task class: the from-scratch center-point
detector trained on the 160 images of train_labels.csv, scored on the 40 of test_labels.csv beside a
whole-image-box baseline.

    python benchmarks/raccoon_centers.py [--size 256] [--epochs 40] [--width 16]

Prints one JSON line: mAP@[.5:.95], mAP@0.5, mAP@0.75, AR@100 of the model and of the baseline (one box
the size of the image, score 1, in every test image), the training time and peak memory.
"""

import argparse
import json
import os
import pathlib
import resource
import time

import numpy as np

from toolkit import detection_metrics

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--augment", default="flip,zoom,translate,color")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import keras
    import tensorflow as tf

    from tasks.object_detection import annotations, centers, detector
    from tasks.object_detection.pipeline import box_dataset

    keras.utils.set_random_seed(args.seed)
    raccoon, size = DATA / "raccoon", args.size
    train = annotations.read_csv(raccoon / "train_labels.csv", raccoon / "images")
    test = annotations.read_csv(raccoon / "test_labels.csv", raccoon / "images")
    targets = lambda part: [(a.boxes, np.zeros(len(a.boxes), np.int32)) for a in part]  # noqa: E731
    batches = box_dataset([a.image for a in train], targets(train), size, augment=tuple(args.augment.split(",")),
                          seed=args.seed, shuffle=True, batch_size=8)  # fmt: skip
    batches = batches.unbatch().map(
        lambda x, y: (x, detector.with_masks(centers.encode(y["boxes"], y["labels"], size, 1)))
    )
    model = detector.center_detector(size, 1, width=args.width)
    steps = args.epochs * int(np.ceil(len(train) / 8))
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=2e-3, warmup_steps=steps // 20)
    model.compile(optimizer=keras.optimizers.AdamW(schedule), loss=detector.losses())
    start = time.time()
    model.fit(batches.batch(8), epochs=args.epochs, verbose=2)
    seconds = time.time() - start
    pixels = np.concatenate([x.numpy() for x, _ in box_dataset([a.image for a in test], targets(test), size)])
    out = model.predict(pixels, verbose=0)
    found = centers.decode(tf.sigmoid(out["heatmap"]), out["size"], out["offset"], score_threshold=0.05)
    back = [np.array([a.width / size, a.height / size] * 2, np.float32) for a in test]  # to original pixels
    detections = [
        (found["boxes"][i, :c].numpy() * back[i], found["labels"][i, :c].numpy(), found["scores"][i, :c].numpy())
        for i, c in enumerate(found["count"].numpy())
    ]
    truth = [(a.boxes, np.zeros(len(a.boxes), int)) for a in test]
    whole = [(np.array([[0, 0, a.width, a.height]], np.float32), np.array([0]), np.array([1.0])) for a in test]
    brief = lambda s: {k: round(v, 3) for k, v in s.items() if k != "per_class"}  # noqa: E731
    print(json.dumps({
        "options": vars(args),
        "model": brief(detection_metrics.detection_scores(truth, detections, ["raccoon"])),
        "whole_image_baseline": brief(detection_metrics.detection_scores(truth, whole, ["raccoon"])),
        "train_seconds": round(seconds, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
