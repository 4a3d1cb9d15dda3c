"""Tiny Shakespeare, character level: validation loss after a fixed time of training, per backbone.

    TOOLKIT_DATA=../shared/data .venv/bin/python benchmarks/text_generation.py [--backbones gpt lstm_lm]
        [--minutes 20] [--width 256] [--depth 4]

The issue's bar: the best from-scratch default reaches validation loss <= 1.70 nats per character
within 20 minutes of training on two CPU cores (nanoGPT's CPU "baby GPT" reports 1.88). The last
10% of input.txt is validation (by position); training stops at the time limit (a benchmark-only
callback) or by early stopping, and the best weights are scored. Prints one JSON line per backbone:
validation loss, bits per character, the unigram model's loss on the same text, epochs, seconds,
peak memory, and a seeded sample.
"""

import argparse
import json
import os
import pathlib
import resource
import sys
import tempfile
import time

import keras

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", HERE.parents[1] / "shared" / "data"))


class TimeLimit(keras.callbacks.Callback):
    """Stops training at the end of the first epoch past `seconds` (a benchmark's budget, not the toolkit's)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start = seconds, time.time()

    def on_epoch_end(self, epoch, logs=None):
        if time.time() - self.start > self.seconds:
            self.model.stop_training = True


def main():
    from tasks import TextGenerator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["gpt", "lstm_lm"])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--epochs", type=int, default=200, help="an upper bound; the time limit ends runs first")
    parser.add_argument("--options", default="{}", help="JSON of TextGenerator arguments for every backbone")
    args = parser.parse_args()
    corpus = DATA / "tinyshakespeare" / "input.txt"
    folder = pathlib.Path(tempfile.mkdtemp(prefix="text-generation-benchmark-"))
    for backbone in args.backbones:
        start = time.time()
        gen = TextGenerator(
            backbone=backbone,
            epochs=args.epochs,
            callbacks=[TimeLimit(args.minutes * 60)],
            save_dir=str(folder),
            verbose=2,
            **json.loads(args.options),
        ).fit(str(corpus))
        validation = gen.metrics_["validation"]
        print(
            json.dumps(
                {
                    "backbone": backbone,
                    "options": json.loads(args.options),
                    "validation_loss": round(validation["loss"], 4),
                    "bits_per_character": round(validation["bits_per_character"], 4),
                    "unigram_loss": round(gen.metrics_["baseline"]["unigram_loss"], 4),
                    "epochs": len(gen.history_["epoch"]),
                    "seconds": round(time.time() - start),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    "sample": gen.samples_[0]["text"][:300],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
