"""Membrane segmentation (ISBI 2012, 30 labelled 512x512 images): train on 0-19, stop early on 20-24,
score on 25-29 (never seen by training, early stopping, checkpointing or the learning-rate schedule).

    python benchmarks/membrane_segmentation.py --image-size 256
    python benchmarks/membrane_segmentation.py --image-size 128 --epochs 30

Scores the five test images twice: at the training size (`evaluate`) and at
their full 512x512 size through `predict`, which resizes the probabilities
back. Also reports the validation scores and the majority-class baseline.
Prints one JSON line.
"""

import argparse
import json
import os
import pathlib
import resource
import tempfile
import time

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


def membrane_pairs():
    root = DATA / "membrane" / "train"
    names = [f"{i}.png" for i in range(30)]
    return [str(root / "image" / n) for n in names], [str(root / "label" / n) for n in names]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--backbone", default="unet")
    parser.add_argument("--loss", default=None)
    parser.add_argument("--augment", default=None, help="comma list, e.g. flip,rotate90,crop")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from tasks import ImageSegmenter
    from tasks.image_segmentation.data import read_mask
    from toolkit.metrics import confusion, segmentation_metrics

    images, masks = membrane_pairs()
    kwargs = {k: v for k, v in (("epochs", args.epochs), ("width", args.width), ("loss", args.loss)) if v}
    if args.augment is not None:
        kwargs["augment"] = tuple(a for a in args.augment.split(",") if a)
    start = time.time()
    seg = ImageSegmenter(
        backbone=args.backbone,
        image_size=args.image_size,
        test_split=0,
        seed=args.seed,
        save_dir=tempfile.mkdtemp(),
        verbose=2,
        **kwargs,
    ).fit((images[:20], masks[:20]), (images[20:25], masks[20:25]))
    seconds = time.time() - start
    test = seg.evaluate((images[25:], masks[25:]))
    predicted = seg.predict(images[25:])
    truth = [read_mask(m) for m in masks[25:]]
    full = segmentation_metrics(sum(confusion(t, p, 2) for t, p in zip(truth, predicted)), seg.classes_)
    # The trivial baseline: every pixel the class most pixels of the training masks have.
    majority = int(round(sum(float(read_mask(m).mean()) for m in masks[:20]) / 20))
    baseline = segmentation_metrics(sum(confusion(t, 0 * t + majority, 2) for t in truth), seg.classes_)
    val = seg.metrics_["validation"]
    print(
        json.dumps(
            {
                "image_size": args.image_size,
                "backbone": args.backbone,
                "config": {
                    k: seg.get_config()[k] for k in ("width", "depth", "loss", "augment", "epochs", "batch_size")
                },
                "epochs_run": len(seg.history_.get("loss", [])),
                "val_pixel_accuracy": round(val["pixel_accuracy"], 4),
                "val_mean_iou": round(val["mean_iou"], 4),
                "test_pixel_accuracy": round(test["pixel_accuracy"], 4),
                "test_mean_iou": round(test["mean_iou"], 4),
                "full_size_pixel_accuracy": round(full["pixel_accuracy"], 4),
                "full_size_mean_iou": round(full["mean_iou"], 4),
                "full_size_dice": round(full["dice"], 4),
                "majority_class_pixel_accuracy": round(baseline["pixel_accuracy"], 4),
                "majority_class_mean_iou": round(baseline["mean_iou"], 4),
                "seconds": round(seconds, 1),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
