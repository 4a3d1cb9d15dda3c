"""Tables: the toolkit's defaults against scikit-learn's HistGradientBoosting and the trivial answer, on the
same seeded 80/20 splits, three seeds.

    python benchmarks/tables.py --seeds 0 1 2

Sets: penguins (species; body_mass_g), and scikit-learn's bundled breast_cancer (2 classes, 569 rows),
wine (3 classes, 178 rows) and diabetes (regression, 442 rows). For each seed the rows are split 80/20
(stratified for classes); the network is `TabularClassifier` / `TabularRegressor` with every default,
fitted on the 80% with test_split=0 (it holds out its own validation part for early stopping, 10% of
those rows, so it trains on fewer rows than the reference), and scored on the 20% with `evaluate`. The reference is
`HistGradientBoosting{Classifier,Regressor}` with scikit-learn's defaults on the whole 80% (categorical
columns as pandas categories), the baseline the majority class or the training mean.

Bars (issue 42): accuracy within 0.01 of the reference on each classification set, MAE within 5% of it
on each regression set (means over the seeds). Prints one JSON line per set and seed, then the means.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))


def sets():
    from sklearn import datasets

    penguins = pd.read_csv(DATA / "tabular" / "penguins.csv")
    frames = {
        "penguins species": (penguins, "species", "classification"),
        "penguins body_mass_g": (penguins.dropna(subset=["body_mass_g"]), "body_mass_g", "regression"),
    }
    for name, loader, kind in (("breast_cancer", datasets.load_breast_cancer, "classification"),
                               ("wine", datasets.load_wine, "classification"),
                               ("diabetes", datasets.load_diabetes, "regression")):  # fmt: skip
        bunch = loader(as_frame=True)
        frame = bunch.frame.copy()
        if kind == "classification":
            frame["target"] = [str(bunch.target_names[i]) for i in bunch.target]
        frames[name] = (frame, "target", kind)
    return frames


def run(name, frame, target, kind, seed, save_dir, options=None):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import train_test_split

    from tasks import TabularClassifier, TabularRegressor
    from tasks.tables import reference

    train, test = train_test_split(frame, test_size=0.2, random_state=seed,
                                   stratify=frame[target] if kind == "classification" else None)  # fmt: skip
    task_class = TabularClassifier if kind == "classification" else TabularRegressor
    started = time.perf_counter()
    # test_split=0: the benchmark's own 20% is the test part; the task holds out its validation part
    # (early stopping) from the 80%.
    options = {"test_split": 0.0, **(options or {})}
    task = task_class(target=target, seed=seed, verbose=0, save_dir=save_dir, **options).fit(train)
    network = task.evaluate(test)
    seconds = time.perf_counter() - started
    x_train = reference.features(train.drop(columns=[target]), task.plan_)
    x_test = reference.features(test.drop(columns=[target]), task.plan_)
    if kind == "classification":
        classes = task.classes_
        y_train = reference._indices([str(v) for v in train[target]], classes)
        y_test = reference._indices([str(v) for v in test[target]], classes)
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
        model.fit(x_train, y_train)
        gbm = reference.classification_scores(y_test, reference._all_classes(model, x_test, len(classes)), classes)
        majority = float(np.mean(y_test == np.bincount(y_train).argmax()))
        scores = {"network": network["accuracy"], "reference": gbm["accuracy"], "baseline": majority,
                  "network_log_loss": network["log_loss"], "reference_log_loss": gbm["log_loss"]}  # fmt: skip
        metric = "accuracy"
    else:
        model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
        model.fit(x_train, train[target].to_numpy(np.float64))
        truth = test[target].to_numpy(np.float64)
        gbm = reference.regression_scores(truth, model.predict(x_test))
        mean = reference.regression_scores(truth, np.full(len(truth), train[target].mean()))
        scores = {"network": network["mae"], "reference": gbm["mae"], "baseline": mean["mae"],
                  "network_r2": network["r2"], "reference_r2": gbm["r2"]}  # fmt: skip
        metric = "mae"
    return {"set": name, "seed": seed, "metric": metric, **scores, "epochs": len(task.history_["epoch"]),
            "train_rows": len(train), "test_rows": len(test), "network_seconds": round(seconds, 1)}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=None, help="names of the sets to run (default: all)")
    parser.add_argument(
        "--options", default="{}", help='task arguments beside the defaults, as JSON: {"loss": "huber"}'
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as save_dir:
        for name, (frame, target, kind) in sets().items():
            if args.sets and name not in args.sets:
                continue
            for seed in args.seeds:
                result = run(name, frame, target, kind, seed, save_dir, json.loads(args.options))
                print(json.dumps(result), flush=True)
                results.append(result)
    print("\nmeans over seeds:")
    for name in dict.fromkeys(r["set"] for r in results):
        rows = [r for r in results if r["set"] == name]
        metric = rows[0]["metric"]
        network, ref, base = (float(np.mean([r[k] for r in rows])) for k in ("network", "reference", "baseline"))
        if metric == "accuracy":
            verdict = f"network - reference {network - ref:+.4f} (bar >= -0.01): {'PASS' if network >= ref - 0.01 else 'FAIL'}"
        else:
            verdict = (
                f"network / reference {network / ref:.3f} (bar <= 1.05): {'PASS' if network <= 1.05 * ref else 'FAIL'}"
            )
        print(
            f"{name:24s} {metric} network {network:.4f}  HistGradientBoosting {ref:.4f}  baseline {base:.4f}  {verdict}"
        )


if __name__ == "__main__":
    main()
