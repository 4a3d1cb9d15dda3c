"""Export sizes, parity and int8 quantisation for a digits and an SST-2 model.

    python benchmarks/export.py

Trains the default image classifier on digits and the default text classifier on SST-2
`train.tsv` (3 epochs), exports each as SavedModel, ONNX and LiteRT (and LiteRT int8 for
digits), and prints each export's report: size, the largest difference from the Keras model
on the run's 32 held-out examples, top-answer agreement, and for int8 the accuracy on those
examples before and after. A format that cannot carry a model prints the reason instead.
"""

import json
import os
import pathlib
import tempfile

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


def main():
    from tasks import ImageClassifier, TextClassifier
    from tasks.image_classification.data import digits
    from toolkit.errors import ToolkitError

    folder = pathlib.Path(tempfile.mkdtemp())
    x, y, _ = digits()
    runs = {
        "digits": ImageClassifier(save_dir=str(folder), verbose=0).fit((x, y)),
        "sst2": TextClassifier(save_dir=str(folder), verbose=0, epochs=3).fit(str(DATA / "sst2" / "train.tsv")),
    }
    keep = ("size_bytes", "max_abs_diff", "top_answers_agree", "accuracy_keras", "accuracy_export", "accuracy_change")
    for name, run in runs.items():
        for format, quantize in (("savedmodel", None), ("onnx", None), ("litert", None), ("litert", "int8")):
            line = {"model": name, "format": format, "quantize": quantize}
            try:
                report = run.export(folder / f"{name}-{format}-{quantize}", format, quantize=quantize)
                line.update({k: report[k] for k in keep if k in report})
            except ToolkitError as error:
                line["cannot"] = str(error).splitlines()[0]
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
