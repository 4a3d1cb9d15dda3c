"""The image classifier on the converted ImageNet MobileNetV2 (benchmarks/convert_mobilenet_v2.py): a real
pretrained number on a folder the from-scratch defaults find hard, the 240 generated shape images of issue
"Defaults that learn" (`shape_folder.py --count 240 --seed 1`), split as there (test 20%).

    python benchmarks/convert_mobilenet_v2.py            # once: saved_models/mobilenet_v2_imagenet.keras
    python benchmarks/pretrained_classifier.py [--weights PATH] [--image-size 96] [--finetune full]

Prints one JSON line: test accuracy and macro F1 against always answering the most common class, epochs
run, training time and peak memory.
"""

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default="saved_models/mobilenet_v2_imagenet.keras")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--finetune", default="full")
    parser.add_argument("--count", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import keras

    from tasks import ImageClassifier

    folder = pathlib.Path(tempfile.mkdtemp()) / "shapes"
    here = pathlib.Path(__file__).resolve().parent
    subprocess.run([sys.executable, str(here / "shape_folder.py"), str(folder), "--count", str(args.count),
                    "--seed", str(args.seed)], check=True)  # fmt: skip
    model = keras.saving.load_model(args.weights)
    backbone = keras.Model(model.input, model.get_layer("features").output, name="mobilenet_v2_imagenet")
    start = time.time()
    clf = ImageClassifier(
        backbone=backbone, image_size=args.image_size, finetune=args.finetune, save_dir=tempfile.mkdtemp(), verbose=2
    ).fit(str(folder))
    test = clf.metrics_["test"]
    print(json.dumps({
        "options": vars(args),
        "test_accuracy": round(test["accuracy"], 4),
        "test_macro_f1": round(test["macro_f1"], 4),
        "majority_baseline": clf.metrics_.get("baseline", {}).get("majority_share"),
        "epochs_run": len(clf.history_["epoch"]),
        "train_seconds": round(time.time() - start, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
