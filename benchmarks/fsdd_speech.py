"""Free Spoken Digit Dataset: spoken-digit classification on the official split (index 0-4 test, 5-49 train).

    python benchmarks/fsdd_speech.py --backbones vgg resnet mel_gru
    python benchmarks/fsdd_speech.py --seed 1 --patience 5 --warmup-epochs 0

Trains on the 2,700 training recordings (a seeded 10% of them validate) and
scores the 300 test recordings. Prints one JSON line per backbone.
"""

import argparse
import json
import os
import pathlib
import resource
import tempfile
import time

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", nargs="+", default=["vgg"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patience", type=int, default=None, help="default: the task's own")
    parser.add_argument("--warmup-epochs", type=int, default=None, help="default: the task's own")
    args = parser.parse_args()

    from tasks import SpeechClassifier
    from tasks.speech.digits import fsdd_split

    train, test = fsdd_split(DATA / "fsdd" / "recordings")
    for backbone in args.backbones:
        kwargs = {"epochs": args.epochs} if args.epochs else {}
        if args.patience is not None:
            kwargs["patience"] = args.patience
        if args.warmup_epochs is not None:
            kwargs["warmup_epochs"] = args.warmup_epochs
        start = time.time()
        clf = SpeechClassifier(
            backbone=backbone, test_split=0, seed=args.seed, save_dir=tempfile.mkdtemp(), verbose=2, **kwargs
        ).fit(train)
        seconds = time.time() - start
        scores = clf.evaluate(test)
        print(
            json.dumps(
                {
                    "backbone": backbone,
                    "seed": args.seed,
                    "stopping": {k: kwargs[k] for k in ("patience", "warmup_epochs") if k in kwargs} or "defaults",
                    "test_accuracy": round(scores["accuracy"], 4),
                    "test_macro_f1": round(scores["macro_f1"], 4),
                    "validation_accuracy": round(clf.metrics_["validation"]["accuracy"], 4),
                    "epochs_run": len(clf.history_.get("loss", [])),
                    "seconds": round(seconds, 1),
                    "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
