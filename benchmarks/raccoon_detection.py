"""Object detection on raccoon through the task, with its defaults: trained on the 160 images of
train_labels.csv (a seeded tenth of them for validation; no test split, as the 40 images of
test_labels.csv are the test set), scored on those 40 beside a whole-image-box baseline, and scored again
from the same boxes read as Pascal VOC XML (the same images' annotations/*.xml) to show both readers give
the same numbers.

    python benchmarks/raccoon_detection.py [--backbone centernet] [--epochs N] [--run-name NAME]
    python benchmarks/raccoon_detection.py --backbone-file saved_models/mobilenet_v2_imagenet.keras \
        [--finetune freeze_then_unfreeze]       # the pretrained path (benchmarks/convert_mobilenet_v2.py)

Prints one JSON line: the test scores from CSV and from VOC, the baseline, the chosen score threshold,
epochs run, training and total time, and peak memory (RSS).
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import tempfile
import time

import numpy as np

from toolkit import detection_metrics

# Resolved: the VOC check below links to the images from a temporary folder, where a relative path breaks.
DATA = pathlib.Path(
    os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data")
).resolve()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="centernet")
    parser.add_argument("--backbone-file", default=None, help="a .keras model whose layer 'features' is the backbone")
    parser.add_argument("--finetune", default="full")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--run-name", default="raccoon")
    parser.add_argument("--save-dir", default="saved_models")
    args = parser.parse_args()
    from tasks import ObjectDetector
    from tasks.object_detection import annotations

    raccoon = DATA / "raccoon"
    backbone = args.backbone
    if args.backbone_file:
        import keras

        model = keras.saving.load_model(args.backbone_file)
        backbone = keras.Model(model.input, model.get_layer("features").output, name="pretrained")
    start = time.time()
    detector = ObjectDetector(
        backbone=backbone, epochs=args.epochs, finetune=args.finetune, learning_rate=args.learning_rate,
        test_split=0.0, save_dir=args.save_dir, run_name=args.run_name, overwrite=True, verbose=2,
    )  # fmt: skip
    detector.fit(str(raccoon / "train_labels.csv"))
    trained = time.time() - start
    from_csv = detector.evaluate(str(raccoon / "test_labels.csv"))
    # The same 40 test images, their boxes read from the VOC XML files.
    voc = pathlib.Path(tempfile.mkdtemp())
    (voc / "annotations").mkdir()
    (voc / "images").symlink_to(raccoon / "images")
    test = annotations.read_csv(raccoon / "test_labels.csv", raccoon / "images")
    for a in test:
        shutil.copy(raccoon / "annotations" / (pathlib.Path(a.image).stem + ".xml"), voc / "annotations")
    from_voc = detector.evaluate(str(voc))
    truth = [(a.boxes, np.zeros(len(a.boxes), int)) for a in test]
    whole = [(np.array([[0, 0, a.width, a.height]], np.float32), np.array([0]), np.array([1.0])) for a in test]
    brief = lambda s: {k: round(v, 4) for k, v in s.items() if isinstance(v, float)}  # noqa: E731
    print(
        json.dumps(
            {
                "options": vars(args),
                "backbone_parameters": detector.model_.get_layer("backbone").count_params(),
                "image_size": detector.image_size_,
                "epochs_run": len(detector.history_["epoch"]),
                "test_from_csv": brief(from_csv),
                "test_from_voc": brief(from_voc),
                "same_from_csv_and_voc": brief(from_csv) == brief(from_voc),
                "test_boxes": sum(len(a.boxes) for a in test),
                "whole_image_baseline": brief(detection_metrics.detection_scores(truth, whole, ["raccoon"])),
                "train_seconds": round(trained, 1),
                "total_seconds": round(time.time() - start, 1),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                "run_dir": detector.run_dir,
            }
        )
    )


if __name__ == "__main__":
    main()
