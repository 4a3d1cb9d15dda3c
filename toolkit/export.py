"""A run's model out of Python: SavedModel, LiteRT or ONNX, each checked against the Keras model.

`export(task, path, format)` writes the model with Keras' own export tools (`ExportArchive` for a
SavedModel, `model.export` for LiteRT) and tf2onnx for ONNX, loads what it wrote with
TensorFlow, the LiteRT interpreter or onnxruntime, runs it on the run's held-out examples
(`examples.npz`, kept by `fit`) beside the Keras model, and writes `export.json` next to it:
the largest difference, whether the top answers agree, the size. A difference beyond the
tolerance is an error, and so is a model whose layers a format cannot carry (the string
operations of text preprocessing in LiteRT and ONNX), with what to do instead.

The exported model takes what the Keras model takes: images as float pixels 0..255 at the
run's size (`image_size_`), waveforms, or strings for text (SavedModel only).
"""

import json
import pathlib

import numpy as np

from toolkit.errors import ToolkitError, require

FORMATS = ("savedmodel", "litert", "onnx")
EXAMPLES_FILE = "examples.npz"
EXPORT_FILE = "export.json"
# float32 through another runtime: kernels differ in summation order, so allow float noise.
TOLERANCE = 1e-4
_SUFFIX = {"savedmodel": "", "litert": ".tflite", "onnx": ".onnx"}


def save_examples(path, inputs, targets=None, calibration=None, count=32):
    """Keeps held-out model inputs (and their targets) and training inputs for export checks.

    `examples.npz` holds "x" (or "x/<name>" per named input), "y" when the batch had targets,
    and "calibration" inputs from the training data, which int8 quantisation calibrates on
    (so the held-out examples measure it on data it did not see).
    """
    arrays = {}
    for prefix, value in (("x", inputs), ("y", targets), ("calibration", calibration)):
        if value is None:
            continue
        for name, array in value.items() if isinstance(value, dict) else [("", value)]:
            arrays[f"{prefix}/{name}" if name else prefix] = _numpy(array)[:count]
    np.savez(path, **arrays)


def load_examples(run_dir, part="x"):
    """The run's kept examples: `part` "x" (held-out inputs), "y" (their targets, or None) or "calibration"."""
    path = pathlib.Path(run_dir) / EXAMPLES_FILE
    if not path.exists():
        raise ToolkitError(
            f"Run '{run_dir}' has no {EXAMPLES_FILE} (held-out inputs to check an export against).",
            expected="a run trained by this version of the toolkit, which keeps them",
            fix="train the run again (the same --run-name with --overwrite), then export it",
        )
    with np.load(path) as data:
        if part in data.files:
            return data[part]
        named = {name.split("/", 1)[1]: data[name] for name in data.files if name.startswith(part + "/")}
    return named or None


def _numpy(value):
    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if array.dtype == object:  # strings, as tf.string tensors give them
        flat = [v.decode() if isinstance(v, bytes) else str(v) for v in array.ravel()]
        array = np.array(flat).reshape(array.shape)
    return array


def export(task, path, format="savedmodel", tolerance=TOLERANCE, quantize=None):
    """Writes `task.model_` in `format` at `path` and checks it; returns (and writes) the export report.

    Args:
        task: a fitted or loaded task whose run folder holds `examples.npz`.
        path: where to write; ".tflite" / ".onnx" is added for those formats when missing.
        format: "savedmodel", "litert" or "onnx".
        tolerance: the largest difference allowed between the export's outputs and Keras' (relative to
            the output where it is above 1).
        quantize: "int8": LiteRT post-training quantisation, calibrated on training examples the run
            kept; the report gives the accuracy on the held-out examples before and after, and the
            tolerance does not apply (int8 is expected to differ).

    Returns:
        The report, also written as `<path>.export.json`.
    """
    if format not in FORMATS:
        raise ToolkitError(f"format={format!r} is not valid.", expected=f"one of {FORMATS}", fix="pick one")
    task.check_fitted()
    if quantize not in (None, "int8") or (quantize and format != "litert"):
        raise ToolkitError(
            f"quantize={quantize!r} with format={format!r} is not offered.",
            expected="quantize='int8' with format='litert', or no quantize",
            fix="export --format litert --quantize int8",
        )
    path = pathlib.Path(path)
    if _SUFFIX[format] and path.suffix != _SUFFIX[format]:
        path = path.with_name(path.name + _SUFFIX[format])
    if path.exists():
        raise ToolkitError(
            f"'{path}' already exists; an export never replaces a file or folder.",
            expected="a new path",
            fix="pass another path, or remove the old export first",
        )
    examples = load_examples(task.run_dir)
    model = task.model_
    form = task.export_form(format)
    inputs = _in_model_order(form.model, form.inputs(examples))
    strings = any(np.asarray(v).dtype.kind in "US" for v in _as_list(inputs))
    if strings and format != "savedmodel":
        raise ToolkitError(
            f"This {task.task_name} model takes strings (its text preprocessing is part of the model), and "
            f"{format} cannot carry string operations.",
            expected="format='savedmodel' for a model that takes raw text",
            fix="export --format savedmodel (TensorFlow Serving, TF.js and TensorFlow Lite's Select TF ops read "
            "it), or tokenise in the caller and export the numeric part yourself",
        )
    # The one inference path predict and the server use (it also builds a model never called).
    expected = _outputs(task._inference_function(model)(_tensors(examples)))
    try:
        calibration = (
            _in_model_order(form.model, form.inputs(load_examples(task.run_dir, "calibration"))) if quantize else None
        )
        _write(form.model, path, format, inputs, calibration, form.endpoints() if format == "savedmodel" else [])
        notes = form.notes(path)  # files the caller needs beside the export (a vocabulary), and how to use them
    except Exception as error:  # a converter's own message says which layer or op it could not carry
        _remove(path)
        for extra in form.files(path):
            _remove(extra)
        if isinstance(error, ToolkitError):  # already says what to do (a missing extra)
            raise
        raise ToolkitError(
            f"Keras could not export this {task.task_name} model as {format}: {type(error).__name__}: "
            f"{str(error).splitlines()[0][:500]}",
            expected="layers the format supports",
            fix="try format='savedmodel', which carries every TensorFlow operation",
        ) from None
    try:
        got = _run(format, path, inputs)
    except ToolkitError:
        _remove(path)
        raise
    except Exception as error:  # written, but the runtime cannot load or run it (ops the converter got wrong)
        _remove(path)
        for extra in form.files(path):
            _remove(extra)
        raise ToolkitError(
            f"The {format} export of this {task.task_name} model was written but cannot run: {type(error).__name__}: "
            f"{str(error).splitlines()[0][:500]}",
            expected=f"operations the {format} runtime supports",
            fix="use format='savedmodel', which carries every TensorFlow operation",
        ) from None
    report = _compare(expected, got, None if quantize else tolerance)
    if format == "savedmodel":
        report.update(form.check(path))
    if quantize:
        report.update(quantize=quantize, **_accuracy_change(expected, got, load_examples(task.run_dir, "y")))
    report.update(
        format=format,
        path=str(path),
        size_bytes=_size(path),
        examples=int(len(_as_list(examples)[0])),
        **notes,
        task=task.task_name,
        run_dir=str(task.run_dir),
    )
    (path.parent / f"{path.name}.{EXPORT_FILE}").write_text(json.dumps(report, indent=2))
    if report["within_tolerance"] is False:
        raise ToolkitError(
            f"The {format} export differs from the Keras model by up to {report['max_abs_diff']:.3g} on the run's "
            f"held-out examples (tolerance {tolerance:g}, relative above 1); report in {path}.{EXPORT_FILE}.",
            expected="the same outputs from both",
            fix="use format='savedmodel', or report the model and format as a converter bug",
        )
    return report


def _write(model, path, format, examples, calibration=None, endpoints=()):
    """Writes the export. SavedModel and ONNX go through an explicit inference-mode function: Keras'
    `model.export` traces `model(x)` with `training=None`, and a `Resizing` layer in a functional model
    then puts the BatchNormalization layers after it in training mode (their batch statistics: a
    segmentation export differed by 0.7 from the model). LiteRT is Keras' own export (it matches)."""
    if format == "litert":
        settings = {}
        if calibration is not None:
            import tensorflow as tf

            def representative():
                for i in range(len(_as_list(calibration)[0])):
                    yield [_float32(np.asarray(v[i : i + 1])) for v in _as_list(calibration)]

            settings = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative}
        model.export(str(path), format="litert", verbose=False, **settings)
        return
    import keras
    import tensorflow as tf

    try:
        signature = [tf.TensorSpec(i.shape, i.dtype, name=i.name) for i in model.inputs]
    except AttributeError:  # a subclassed model (a VAE) declares no inputs: the examples' shapes, any batch size
        signature = [
            tf.TensorSpec((None, *np.shape(v)[1:]), tf.as_dtype(np.asarray(v).dtype)) for v in _as_list(examples)
        ]

    names = _dict_input_names(model)

    def serve(*inputs):
        if names:  # a model of named inputs (question answering's token, segment and padding ids)
            return model(dict(zip(names, inputs)), training=False)
        return model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)

    if format == "savedmodel":
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name="serve", fn=serve, input_signature=signature)
        for name, fn, input_signature, tracked in endpoints:
            for layer in tracked:
                archive.track(layer)
            archive.add_endpoint(name=name, fn=fn, input_signature=input_signature)
        archive.write_out(str(path), verbose=False)
        return
    tf2onnx = require("tf2onnx", "export", "ONNX export")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Frozen here, not by `tf2onnx.convert.from_function`: its aggressive inlining leaves a constant
    # the model captures (a Normalization layer's adapted mean and variance) as an input of the
    # ONNX graph that no caller could feed. Loops stay loops (lower_control_flow=False) for tf2onnx.
    frozen = convert_variables_to_constants_v2(
        tf.function(serve, input_signature=signature).get_concrete_function(), lower_control_flow=False
    )
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs],
    )
    # The graph's tensor names ("waveform:0", "Identity:0") -> the names a caller expects: the model's
    # inputs' ("waveform") and output_0, output_1, ...
    renames = {t.name: t.name.split(":")[0] for t in frozen.inputs}
    renames.update({t.name: f"output_{i}" for i, t in enumerate(frozen.outputs)})
    for node in proto.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.name = renames.get(value.name, value.name)
    path.write_bytes(proto.SerializeToString())


def _run(format, path, examples):
    """The export's outputs on `examples`, through the runtime that format is for."""
    if format == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return _outputs(loaded.serve(*_tensors_list(examples)))
    if format == "onnx":
        onnxruntime = require("onnxruntime", "export", "Checking an ONNX export")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        types = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
        kinds = [types.get(i.type, np.float32) for i in session.get_inputs()]
        values = [examples[n] for n in names] if isinstance(examples, dict) else _as_list(examples)
        feeds = {n: np.asarray(v, k) for n, v, k in zip(names, values, kinds)}
        return [np.asarray(o) for o in session.run(None, feeds)]
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    several_outputs = len(interpreter.get_output_details()) > 1
    if isinstance(examples, dict) or (several_outputs and len(_as_list(examples)) == 1):
        # Named inputs and outputs through the model's signature: LiteRT's tensor lists keep neither
        # the inputs' nor the outputs' order (question answering's "end" came before "start"; a
        # detector's heatmap after its size and offset maps).
        runner = interpreter.get_signature_runner()
        kinds = runner.get_input_details()
        if not isinstance(examples, dict):
            examples = {next(iter(kinds)): _as_list(examples)[0]}
        return _outputs(runner(**{n: np.asarray(v, kinds[n]["dtype"]) for n, v in examples.items()}))
    inputs = interpreter.get_input_details()
    values = _as_list(examples)
    for detail, value in zip(inputs, values):
        interpreter.resize_tensor_input(detail["index"], np.asarray(value).shape)
    interpreter.allocate_tensors()
    for detail, value in zip(inputs, values):
        interpreter.set_tensor(detail["index"], np.asarray(value, detail["dtype"]))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def _accuracy_change(expected, got, targets):
    """Top-1 accuracy of the Keras model and of the export on the held-out examples, where they are labelled."""
    if targets is None or isinstance(targets, dict) or len(expected) != 1:
        return {"accuracy_change": None}
    a, b, y = np.asarray(expected[0]), np.asarray(got[0]).reshape(np.shape(expected[0])), np.asarray(targets)
    if a.ndim < 2 or y.shape != a.shape[:-1] or y.dtype.kind not in "iu":
        return {"accuracy_change": None}
    before, after = float(np.mean(a.argmax(-1) == y)), float(np.mean(b.argmax(-1) == y))
    return {"accuracy_keras": before, "accuracy_export": after, "accuracy_change": after - before}


def _compare(expected, got, tolerance):
    if len(expected) != len(got):
        return {"max_abs_diff": float("inf"), "top_answers_agree": 0.0, "within_tolerance": False}
    diffs, scaled, agree = [], [], []
    for a, b in zip(expected, got):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64).reshape(np.shape(a))
        diffs.append(float(np.max(np.abs(a - b))) if a.size else 0.0)
        # Relative above 1: float32 carries about 7 digits, so outputs in the hundreds (a forecast of passengers,
        # a price) differ by more than 1e-4 between two correct runtimes that sum in another order.
        scaled.append(float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a)))) if a.size else 0.0)
        if a.ndim >= 2 and a.shape[-1] > 1:
            agree.append(float(np.mean(np.argmax(a, -1) == np.argmax(b, -1))))
    worst = max(diffs)
    return {
        "max_abs_diff": worst,
        "max_diff_relative_above_1": max(scaled),
        "top_answers_agree": min(agree) if agree else None,
        "tolerance": tolerance,
        "within_tolerance": None if tolerance is None else max(scaled) <= tolerance,
    }


class Form:
    """What `export` writes for a task: `model`, the function from the run's kept examples to its
    inputs, the files besides the export that the caller needs, and `notes(path)`, which writes them
    and returns what export.json says about them. A task's `export_form(format)` returns one."""

    def __init__(self, model, inputs=None, notes=None, files=None, endpoints=None, check=None):
        self.model = model
        self.inputs = inputs or (lambda examples: examples)
        self.notes = notes or (lambda path: {})
        self.files = files or (lambda path: [])
        # SavedModel only: more signatures, [(name, function, input signature, layers it uses)], and a
        # check of them on the written export, `check(path)` -> entries for the report (or an error).
        self.endpoints = endpoints or (lambda: [])
        self.check = check or (lambda path: {})


def _float32(array):
    return array.astype(np.float32) if array.dtype.kind == "f" else array


def _dict_input_names(model):
    """The names of a functional model's inputs in `model.inputs` order when it takes a dict, else None."""
    try:
        structure = model.input
    except (AttributeError, ValueError):  # a subclassed model declares no inputs
        return None
    return [i.name for i in model.inputs] if isinstance(structure, dict) else None


def _in_model_order(model, examples):
    """Named examples in the order of the model's inputs, which is the export signature's order."""
    names = _dict_input_names(model)
    if not isinstance(examples, dict) or not names or set(names) != set(examples):
        return examples
    return {name: examples[name] for name in names}


def _as_list(examples):
    return list(examples.values()) if isinstance(examples, dict) else [examples]


def _tensors(examples):
    import tensorflow as tf

    if isinstance(examples, dict):
        return {k: tf.constant(v) for k, v in examples.items()}
    return tf.constant(examples)


def _tensors_list(examples):
    import tensorflow as tf

    return [tf.constant(v) for v in _as_list(examples)]


def _outputs(result):
    if isinstance(result, dict):
        return [np.asarray(result[k]) for k in sorted(result)]
    if isinstance(result, (list, tuple)):
        return [np.asarray(r) for r in result]
    return [np.asarray(result)]


def _size(path):
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _remove(path):
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
