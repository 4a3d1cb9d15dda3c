"""Runs the default digits job with several seeds and prints test accuracy, epochs and time.

    python benchmarks/digits_seeds.py --seeds 0 1 2 3

Shows how steady the built-in default is, not just one lucky seed.
"""

import argparse
import tempfile
import time

from tasks import train_image_classifier

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
args = parser.parse_args()

accuracies = []
with tempfile.TemporaryDirectory() as save_dir:
    for seed in args.seeds:
        start = time.perf_counter()
        clf = train_image_classifier(save_dir=save_dir, seed=seed, verbose=0)
        accuracy = clf.metrics_["test"]["accuracy"]
        accuracies.append(accuracy)
        print(
            f"seed {seed}: test accuracy {accuracy:.4f}, {len(clf.history_['loss'])} epochs, "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
print(f"mean {sum(accuracies) / len(accuracies):.4f}, worst {min(accuracies):.4f}")
