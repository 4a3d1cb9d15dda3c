"""Time series: forecasting airline and sunspots against statsmodels' references, and series classification
on UCR GunPoint and UEA BasicMotions against 1-nearest-neighbour, three seeds.

    python benchmarks/time_series.py --seeds 0 1 2
    python benchmarks/time_series.py --part forecasting --options '{"backbone": "nbeats"}'

Forecasting: `TimeSeriesForecaster` with every default but the horizon (airline: trained on the first 120
months, forecasting the 24 after them from the data's end; sunspots: trained on 1700-1978, forecasting the 30
years after), `test_split=0` (early stopping on its own last steps). The references, fitted on the same
steps in the same run (statsmodels, a benchmark-only dependency): the SARIMA airline model (0,1,1)(0,1,1)12
on log passengers, Holt-Winters (additive trend, multiplicative season), seasonal naive; for sunspots AR(9)
forecast dynamically, the last value and the training mean. Bars (issue "Time series"): airline MAPE <= 8.5%,
sunspots MAE <= 22.8.

The network: `SeriesClassifier` with every default (FCN, epochs raised to about 1,000 optimizer steps, at
most 200; early stopping on its own validation part of the _TRAIN file, `test_split=0`), scored on the
_TEST file. The reference: 1-nearest-neighbour with Euclidean distance (scikit-learn) fitted on the whole
_TRAIN file, the archives' own baseline; and the majority class. Bars (issue "Time series"): GunPoint test
accuracy >= 0.98, BasicMotions >= 0.95 (1-NN published: 0.913 / 0.600; ROCKET and InceptionTime about 1.0).
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
# (file, value column, steps held out, metric, bar)
FORECASTS = {"airline": ("airline.csv", "Passengers", 24, "mape", 8.5),
             "sunspots": ("sunspots.csv", "SUNACTIVITY", 30, "mae", 22.8)}  # fmt: skip


def references(name, train, truth):
    """{reference: its forecast of the held-out steps}, fitted on `train` (statsmodels)."""
    import warnings

    from statsmodels.tsa.ar_model import AutoReg
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    steps = len(truth)
    warnings.filterwarnings("ignore")
    if name == "airline":
        sarima = SARIMAX(np.log(train), order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=False)
        holt = ExponentialSmoothing(train, trend="add", seasonal="mul", seasonal_periods=12).fit()
        return {"SARIMA airline model (log)": np.exp(sarima.forecast(steps)), "Holt-Winters": holt.forecast(steps),
                "seasonal naive": np.resize(train[-12:], steps)}  # fmt: skip
    ar = AutoReg(train, lags=9).fit()
    return {"AR(9)": ar.predict(start=len(train), end=len(train) + steps - 1), "last value": np.full(steps, train[-1]),
            "training mean": np.full(steps, train.mean())}  # fmt: skip


def score(metric, predicted, truth):
    error = np.abs(np.asarray(predicted) - truth)
    return float(100 * np.mean(error / np.abs(truth))) if metric == "mape" else float(np.mean(error))


def run_forecast(name, seed, save_dir, options):
    import pandas as pd

    from tasks import TimeSeriesForecaster

    file, column, steps, metric, _ = FORECASTS[name]
    frame = pd.read_csv(DATA / "timeseries" / file)
    train, truth = frame[column].to_numpy(float)[:-steps], frame[column].to_numpy(float)[-steps:]
    started = time.perf_counter()
    forecaster = TimeSeriesForecaster(horizon=steps, test_split=0, seed=seed, verbose=0, save_dir=save_dir,
                                      **options).fit(frame.iloc[:-steps])  # fmt: skip
    seconds = time.perf_counter() - started
    answer = forecaster.forecast()
    value = np.array([a["value"] for a in answer])
    inside = np.mean([(a["lower"] <= t <= a["upper"]) for a, t in zip(answer, truth)])
    result = {"set": name, "seed": seed, "metric": metric, "network": score(metric, value, truth),
              "coverage": float(inside), "epochs": len(forecaster.history_["epoch"]), "seconds": round(seconds, 1)}  # fmt: skip
    started = time.perf_counter()
    result["references"] = {k: score(metric, v, truth) for k, v in references(name, train, truth).items()}
    result["reference_seconds"] = round(time.perf_counter() - started, 2)
    return result


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


def forecasting(args):
    results = []
    with tempfile.TemporaryDirectory() as save_dir:
        for name in FORECASTS:
            for seed in args.seeds:
                result = run_forecast(name, seed, save_dir, json.loads(args.options))
                print(json.dumps(result), flush=True)
                results.append(result)
    print("\nmeans over seeds:")
    for name, (_, _, _, metric, bar) in FORECASTS.items():
        rows = [r for r in results if r["set"] == name]
        network = np.mean([r["network"] for r in rows])
        verdict = "PASS" if network <= bar else "FAIL"
        refs = "  ".join(f"{k} {v:.2f}" for k, v in rows[0]["references"].items())
        seeds = ", ".join(f"{r['network']:.2f}" for r in rows)
        print(f"{name:9s} {metric} {network:.2f} (seeds {seeds}; bar <= {bar}: "
              f"{verdict}); 80% interval coverage {np.mean([r['coverage'] for r in rows]):.2f}; {refs}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--part", choices=["all", "forecasting", "classification"], default="all")
    parser.add_argument("--options", default="{}", help='the task\'s arguments as JSON: {"backbone": "lstm"}')
    args = parser.parse_args()
    if args.part in ("all", "forecasting"):
        forecasting(args)
    if args.part in ("all", "classification"):
        classification(args)


def classification(args):
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
