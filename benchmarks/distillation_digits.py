"""Knowledge distillation on digits: a small student taught by a larger teacher, against the same student alone.

    python benchmarks/distillation_digits.py --seeds 0 1 2

For each seed: trains the teacher (the default VGG), then the student (an MLP of
width 4: two dense layers of 32 and 16 units) alone and distilled from the teacher's run folder,
all on the same seeded split; prints one JSON line per model with its test
accuracy (the 20% hold-out none of them trained or stopped on), and the means.
"""

import argparse
import json
import tempfile
import time

from tasks import ImageClassifier

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--student-width", type=int, default=4)
parser.add_argument("--temperature", type=float, default=4.0)
parser.add_argument("--alpha", type=float, default=0.5)
args = parser.parse_args()

scores = {"teacher": [], "student alone": [], "student distilled": []}
with tempfile.TemporaryDirectory() as save_dir:
    for seed in args.seeds:
        common = dict(save_dir=save_dir, seed=seed, verbose=0)
        runs = [("teacher", dict(backbone="vgg"))]
        student = dict(backbone="mlp", width=args.student_width)
        runs.append(("student alone", student))
        for name, kwargs in runs:
            start = time.perf_counter()
            clf = ImageClassifier(**kwargs, **common).fit("digits")
            if name == "teacher":
                teacher_dir = clf.run_dir
            scores[name].append(clf.metrics_["test"]["accuracy"])
            print(json.dumps({"seed": seed, "model": name, "test_accuracy": round(scores[name][-1], 4),
                              "params": clf.model_.count_params(), "seconds": round(time.perf_counter() - start, 1)}),
                  flush=True)  # fmt: skip
        start = time.perf_counter()
        clf = ImageClassifier(
            **student, teacher=teacher_dir, temperature=args.temperature, alpha=args.alpha, **common
        ).fit("digits")
        scores["student distilled"].append(clf.metrics_["test"]["accuracy"])
        print(json.dumps({"seed": seed, "model": "student distilled", "test_accuracy": round(scores["student distilled"][-1], 4),
                          "params": clf.model_.count_params(), "seconds": round(time.perf_counter() - start, 1)}),
              flush=True)  # fmt: skip
print(json.dumps({name: round(sum(v) / len(v), 4) for name, v in scores.items()}))
