"""Predict on inputs of many lengths: spoken digit strings through a speech recognizer, one graph for every
length against one trace per length (the inference path before it left declared-open axes open).

    TOOLKIT_DATA=../shared/data python benchmarks/predict_lengths.py --utterances 200 --repeats 3

Trains a `SpeechRecognizer` for one epoch on 300 FSDD digit strings (speed does not depend on how well it
learned; both routes must write the same transcripts), then transcribes `--utterances` test strings (two
to five digits, 0.6-3 s: nearly every batch has another longest recording) with `asr.predict`:

- toolkit: `toolkit.inference.Inference` as it is (the waveform's length axis, which the model declares
  open, left open in the one trace);
- before: the same class with every axis but the batch fixed at its first size (its behaviour until this
  change), so each new batch length traces again.

Each route starts from a fresh `Inference` (a fresh process's first call); prints utterances per second
of the first call (tracing included) and the median of `--repeats` calls after it, and the traces made.
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


def closed_specs(self, x):
    """`Inference._specs` before this change: only the batch axis open."""
    import tensorflow as tf

    return tf.nest.map_structure(lambda t: tf.TensorSpec([None, *t.shape[1:]], t.dtype), x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from tasks import SpeechRecognizer
    from tasks.speech.digits import digit_strings
    from toolkit import inference

    folder = DATA / "fsdd" / "recordings"
    asr = SpeechRecognizer(epochs=1, test_split=0, verbose=0, save_dir=tempfile.mkdtemp())
    asr.fit(digit_strings(folder, "train", 300, seed=0))
    waves, _, rate = digit_strings(folder, "test", args.utterances, seed=1)
    lengths = [len(w) / rate for w in waves]
    rows, texts = {}, {}
    for route in ("toolkit", "before"):
        original = inference.Inference._specs
        if route == "before":
            inference.Inference._specs = closed_specs
        try:
            asr.__dict__.pop("_inference_functions", None)  # a fresh trace, as in a new process
            start = time.perf_counter()
            texts[route] = asr.predict(waves, sample_rate=rate)
            first = time.perf_counter() - start
            seconds = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                asr.predict(waves, sample_rate=rate)
                seconds.append(time.perf_counter() - start)
            traced = next(iter(asr.__dict__["_inference_functions"].values())).traces
        finally:
            inference.Inference._specs = original
        rows[route] = {
            "first_call_per_second": round(len(waves) / first, 1),
            "later_calls_per_second": round(len(waves) / float(np.median(seconds)), 1),
            "traces": traced,
        }
    print(
        json.dumps(
            {
                "utterances": len(waves),
                "seconds_of_audio": [round(min(lengths), 2), round(max(lengths), 2)],
                "batch_size": asr._batch_size(),
                **rows,
                "first_call_speed_up": round(
                    rows["toolkit"]["first_call_per_second"] / rows["before"]["first_call_per_second"], 2
                ),
                "same_transcripts": texts["toolkit"] == texts["before"],
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
