"""Cold start: `toolkit predict RUN image.png` in a fresh process, against a plain Keras script that loads
the same `model.keras` and predicts the same file, and the import of TensorFlow alone.

    python benchmarks/cold_start.py [--run RUN] --repeats 5

Trains the default digits image classifier unless `--run` names a finished image-classification run;
prints the median wall time of each command over `--repeats` fresh processes, and the modules under
`tasks.` the toolkit's process imported (only the run's own family).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLAIN = """
import sys, keras, numpy as np, tensorflow as tf
import toolkit.images  # the model's custom layers
model = keras.saving.load_model(sys.argv[1] + "/model.keras", compile=False)
image = tf.io.decode_png(tf.io.read_file(sys.argv[2]), channels=1)
print(int(np.argmax(model(tf.cast(image, "float32")[None], training=False))))
"""
FAMILIES = """
import sys, toolkit
task = toolkit.load(sys.argv[1])
task.predict([sys.argv[2]])
print(sorted({m.split(".")[1] for m in sys.modules if m.startswith("tasks.")}))
"""


def wall(command, repeats):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        seconds.append(time.perf_counter() - start)
    return round(float(np.median(seconds)), 2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from tasks.image_classification.data import digits

    x, y, _ = digits()
    if args.run is None:
        from tasks import ImageClassifier

        args.run = ImageClassifier(save_dir=tempfile.mkdtemp(), verbose=0).fit((x, y)).run_dir
    png = pathlib.Path(tempfile.mkdtemp()) / "digit.png"
    Image.fromarray(x[-1].squeeze().astype(np.uint8)).save(png)
    python = sys.executable
    families = subprocess.run([python, "-c", FAMILIES, args.run, str(png)], capture_output=True, text=True, cwd=ROOT)
    row = {
        "toolkit_predict_s": wall([python, "-m", "toolkit.cli", "predict", args.run, str(png)], args.repeats),
        "plain_keras_script_s": wall([python, "-c", PLAIN, args.run, str(png)], args.repeats),
        "import_tensorflow_s": wall([python, "-c", "import tensorflow"], args.repeats),
        "families_imported": families.stdout.strip().splitlines()[-1] if families.stdout else families.stderr[-500:],
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(row))


if __name__ == "__main__":
    main()
