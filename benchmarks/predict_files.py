"""`predict` on many image files against tf.data + `model.predict` on the same files, same model.

    python benchmarks/predict_files.py --count 1000 --repeats 3

Writes `--count` JPEG files (the shapes folder of `benchmarks/shape_folder.py`: mixed sizes 48-160 px
and formats; here all re-saved as JPEG), trains the default image classifier on them for one epoch
(the speed of prediction does not depend on how well it learned), then times, in turn and `--repeats`
times: `clf.predict(paths)`, and the plain Keras route a user would write: the toolkit's decoder in a
`tf.data` pipeline (`image_streams.file_dataset`, batched, prefetched) into `model.predict`. Prints
images per second of each, their ratio, and that both give the same labels.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import subprocess

    import tensorflow as tf
    from PIL import Image

    from tasks import ImageClassifier
    from toolkit import image_streams

    folder = pathlib.Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "shape_folder.py"), str(folder / "png"),
                    "--count", str(args.count)], check=True)  # fmt: skip
    paths = []
    for source in sorted((folder / "png").rglob("*.*")):
        target = folder / "jpg" / source.parent.name / (source.stem + ".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(source).convert("RGB").save(target, quality=90)
        paths.append(str(target))
    clf = ImageClassifier(epochs=1, verbose=0, save_dir=str(folder / "runs")).fit(str(folder / "jpg"))
    size, channels, batch = tuple(clf.image_size_), clf.channels_, clf._batch_size()

    def toolkit_route():
        return [answer["label"] for answer in clf.predict(paths)]

    def keras_route():
        labels = np.zeros(len(paths), np.int32)
        dataset = image_streams.file_dataset(paths, labels, size, channels).batch(batch)
        dataset = dataset.map(lambda x, y: tf.cast(x, "float32")).prefetch(tf.data.AUTOTUNE)
        probabilities = clf.model_.predict(dataset, verbose=0)
        return [clf.classes_[int(i)] for i in probabilities.argmax(-1)]

    same = toolkit_route() == keras_route()  # also the first (tracing) call of each, outside the clock
    rates = {"toolkit": [], "tf.data + model.predict": []}
    for _ in range(args.repeats):
        for name, route in (("toolkit", toolkit_route), ("tf.data + model.predict", keras_route)):
            start = time.perf_counter()
            route()
            rates[name].append(len(paths) / (time.perf_counter() - start))
    medians = {name: round(float(np.median(values)), 1) for name, values in rates.items()}
    print(
        {
            "files": len(paths),
            "image_size": size,
            "batch_size": batch,
            "images_per_second": medians,
            "all": {k: [round(v, 1) for v in values] for k, values in rates.items()},
            "ratio": round(medians["toolkit"] / medians["tf.data + model.predict"], 3),
            "same_labels": same,
            "load_average": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()
