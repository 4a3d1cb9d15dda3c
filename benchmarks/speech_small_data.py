"""Speech defaults on small folders: FSDD subsets trained with `toolkit train speech-classification --data F`
and nothing else (a new user's command), scored on speakers or recordings the run never saw.

    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/speech_small_data.py [--cases NAME ...] [--seeds 0 1 2]

Cases (each seed draws its own speakers and recordings):
- one_speaker_20: one speaker, 20 recordings of each of the 10 digits (200); test: 10 recordings of each digit
  from each of the 5 other speakers (500).
- two_speakers_20: two speakers, 20 recordings per digit each (400); test: the 4 other speakers (400).
- six_words_24: the issue's case, 6 digits x 24 recordings in all six voices (4 per speaker, 144); test: 10
  other recordings per digit and speaker (360).
Beside each score: always answering the test part's most common class (the trivial baseline). Prints one
JSON line per run.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
RECORDINGS = DATA / "fsdd" / "recordings"
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def _copy(names, folder):
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(RECORDINGS / name, folder / name)
    return folder


def _pick(rng, digits, speakers, per_speaker, exclude=()):
    """Recording names: for each digit and speaker, `per_speaker` of its 50 repetitions not in `exclude`."""
    names = []
    for digit in digits:
        for speaker in speakers:
            free = [k for k in range(50) if f"{digit}_{speaker}_{k}.wav" not in exclude]
            names += [f"{digit}_{speaker}_{k}.wav" for k in rng.choice(free, per_speaker, replace=False)]
    return names


def folders(case, seed, root):
    """(train folder, test folder) of a case, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    speakers = list(rng.permutation(SPEAKERS))
    if case == "one_speaker_20":
        train = _pick(rng, range(10), speakers[:1], 20)
        test = _pick(rng, range(10), speakers[1:], 10)
    elif case == "two_speakers_20":
        train = _pick(rng, range(10), speakers[:2], 20)
        test = _pick(rng, range(10), speakers[2:], 10)
    elif case == "six_words_24":
        train = _pick(rng, range(6), speakers, 4)
        test = _pick(rng, range(6), speakers, 10, exclude=set(train))
    else:
        raise SystemExit(f"unknown case {case!r}")
    return _copy(train, root / f"{case}_{seed}" / "train"), _copy(test, root / f"{case}_{seed}" / "test")


def run(case, seed, root, extra=()):
    train, test = folders(case, seed, root)
    toolkit = str(pathlib.Path(sys.executable).with_name("toolkit"))
    save = root / "runs"
    command = [toolkit, "train", "speech-classification", "--data", str(train), "--save-dir", str(save),
               "--seed", str(seed), "--verbose", "2", *extra]  # fmt: skip
    start = time.time()
    trained = subprocess.run(command, capture_output=True, text=True)
    seconds = time.time() - start
    if trained.returncode != 0:
        return {"case": case, "seed": seed, "error": trained.stderr[-2000:]}
    run_dir = json.loads(trained.stdout.strip().splitlines()[-1])["run_dir"]
    scored = subprocess.run([toolkit, "evaluate", run_dir, "--data", str(test)], capture_output=True, text=True)
    metrics = json.loads(scored.stdout)
    matrix = np.asarray(metrics["confusion_matrix"], float)
    saved = json.loads((pathlib.Path(run_dir) / "metrics.json").read_text())
    history = (pathlib.Path(run_dir) / "history.csv").read_text().strip().splitlines()
    estimate = [line for line in trained.stdout.splitlines() if line.startswith("Estimated:")]
    return {
        "case": case,
        "seed": seed,
        "options": list(extra),
        "held_out_accuracy": round(metrics["accuracy"], 4),
        "baseline_on_held_out": round(float(matrix.sum(axis=1).max() / matrix.sum()), 4),
        "held_out_examples": int(matrix.sum()),
        "train_examples": saved["data"]["train_examples"],
        "validation_examples": saved["data"]["validation_examples"],
        "epochs_run": len(history) - 1,
        "seconds": round(seconds),
        "estimate": estimate[0] if estimate else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["one_speaker_20", "two_speakers_20", "six_words_24"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--options", nargs=argparse.REMAINDER, default=[], help="more `toolkit train` options")
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="speech-small-"))
    for case in args.cases:
        for seed in args.seeds:
            print(json.dumps(run(case, seed, root, args.options)), flush=True)


if __name__ == "__main__":
    main()
