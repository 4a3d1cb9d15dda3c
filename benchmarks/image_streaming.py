"""Streaming benchmark: peak memory and throughput of one training epoch on folders of generated JPEGs.

    python benchmarks/image_streaming.py --sizes 2000 8000 32000
    python benchmarks/image_streaming.py --sizes 2000 --code /path/to/older/checkout   # the same on older code

Each measurement runs in a fresh process (peak RSS is per process): it trains the
default image classifier (`ImageClassifier()`, backbone "vgg") for one epoch on
a folder of N 128x128 JPEGs in 10 class subfolders (5% held out for validation,
5% for test), and prints one JSON line: peak RSS, the epoch's wall time and images
per second (images trained / epoch time), and the whole fit's time (reading the
folder, the epoch, scoring). `--steps K` ends the epoch after K batches: on two
CPU cores the default VGG trains about 10 images a second, so a whole epoch of
32,000 takes an hour; the rate is steady long before, and the in-memory path
reaches its peak memory before training starts.
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {code!r})
import keras
from tasks import ImageClassifier

class EpochTime(keras.callbacks.Callback):
    steps = 0
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
    def on_train_batch_end(self, batch, logs=None):
        self.steps = batch + 1
        self.seconds = time.perf_counter() - self.start
        if {steps} and self.steps >= {steps}:
            self.model.stop_training = True  # a bounded epoch: the rate is steady after the first batches

timer = EpochTime()
start = time.perf_counter()
clf = ImageClassifier(epochs=1, verbose=0, save_dir={save_dir!r}, callbacks=[timer], validation_split=0.05,
                      test_split=0.05).fit({folder!r})
total = time.perf_counter() - start
trained = timer.steps * clf.batch_size
print(json.dumps({{"images": {count}, "trained_images": trained, "epoch_s": round(timer.seconds, 1),
                   "images_per_s": round(trained / timer.seconds, 1), "fit_s": round(total, 1),
                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                   "image_size": list(clf.image_size_), "code": {code!r}}}))
"""


def make_folder(root, count, seed=0):
    """`count` 128x128 JPEGs of coloured shapes on noise, in 10 class subfolders (class = shape and hue)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        label = i % 10
        folder = root / f"class_{label}"
        folder.mkdir(exist_ok=True)
        pixels = rng.integers(0, 80, size=(128, 128, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        x, y, r = rng.integers(30, 98), rng.integers(30, 98), rng.integers(12, 28)
        colour = tuple(int(c) for c in np.roll([230, 60 + 15 * label, 40], label % 3))
        box = (x - r, y - r, x + r, y + r)
        (draw.ellipse if label < 5 else draw.rectangle)(box, fill=colour)
        image.save(folder / f"{i:06d}.jpg", quality=90)
    return root


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    parser.add_argument("--code", default=str(pathlib.Path(__file__).resolve().parents[1]))
    parser.add_argument("--steps", type=int, default=0, help="stop the epoch after this many batches (0: whole epoch)")
    parser.add_argument("--work", default=None, help="folder for the generated images (default: a temporary one)")
    args = parser.parse_args()
    work = pathlib.Path(args.work or tempfile.mkdtemp(prefix="streaming-"))
    for count in args.sizes:
        folder = work / f"jpegs_{count}"
        if not folder.exists():
            start = time.perf_counter()
            make_folder(folder, count)
            print(f"generated {count} JPEGs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        script = CHILD.format(
            code=args.code, save_dir=str(work / "runs"), folder=str(folder), count=count, steps=args.steps
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode or not lines:
            print(result.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"measurement at {count} images failed")
        print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
