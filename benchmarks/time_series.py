"""Time series: series classification on UCR GunPoint and UEA BasicMotions against 1-nearest-neighbour,
on the archives' official train / test files, three seeds.

    python benchmarks/time_series.py --seeds 0 1 2

The network: `SeriesClassifier` with every default (FCN, epochs raised to about 1,000 optimizer steps, at
most 200; early stopping on its own validation part of the _TRAIN file, `test_split=0`), scored on the
_TEST file. The reference: 1-nearest-neighbour with Euclidean distance (scikit-learn) fitted on the whole
_TRAIN file, the archives' own baseline; and the majority class. Bars (issue "Time series"): GunPoint test
accuracy >= 0.98, BasicMotions >= 0.95 (1-NN published: 0.913 / 0.600; ROCKET and InceptionTime about 1.0).
Forecasting (airline, sunspots) is not built yet.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))

BARS = {"GunPoint": 0.98, "BasicMotions": 0.95}


def run(name, seed, save_dir, options):
    from tasks import SeriesClassifier
    from tasks.series.data import read_series
    from tasks.series.model import nearest_neighbour

    train, test = (str(DATA / "timeseries" / name / f"{name}_{part}.ts") for part in ("TRAIN", "TEST"))
    started = time.perf_counter()
    clf = SeriesClassifier(seed=seed, test_split=0, verbose=0, save_dir=save_dir, **options).fit(train)
    seconds = time.perf_counter() - started
    scores = clf.evaluate(test)
    train_x, train_y, _, _ = read_series(train)
    test_x, test_y, _, _ = read_series(test)
    one_nn = nearest_neighbour(train_x, train_y, {"test": (test_x, test_y)})["test"]
    majority = max(test_y.count(c) for c in set(test_y)) / len(test_y)
    return {"set": name, "seed": seed, "network": scores["accuracy"], "one_nn": one_nn, "majority": majority,
            "epochs": len(clf.history_["epoch"]), "seconds": round(seconds, 1)}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--options", default="{}", help='SeriesClassifier arguments as JSON: {"backbone": "lstm"}')
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as save_dir:
        for name in BARS:
            for seed in args.seeds:
                result = run(name, seed, save_dir, json.loads(args.options))
                print(json.dumps(result), flush=True)
                results.append(result)
    print("\nmeans over seeds:")
    for name, bar in BARS.items():
        rows = [r for r in results if r["set"] == name]
        network, one_nn = np.mean([r["network"] for r in rows]), np.mean([r["one_nn"] for r in rows])
        lowest = min(r["network"] for r in rows)
        verdict = "PASS" if lowest >= bar else "FAIL"
        print(f"{name:14s} accuracy {network:.4f} (lowest {lowest:.4f}; bar {bar} on every seed: {verdict})  "
              f"1-NN {one_nn:.4f}  majority {rows[0]['majority']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
