"""A run leaves Python: `toolkit serve` (a real uvicorn server in a subprocess, called over HTTP on 127.0.0.1)
and `toolkit export` (SavedModel, LiteRT, ONNX, each checked against the Keras model). Issue "Every run as a
report, exported ..., and served over HTTP"."""

import base64
import json
import pathlib
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
import scipy.io.wavfile
from PIL import Image

import toolkit
from tasks import (
    ImageClassifier,
    ImageGenerator,
    ImageSegmenter,
    ObjectDetector,
    SpeechClassifier,
    SpeechRecognizer,
    TextClassifier,
)
from tasks.image_classification.data import digits
from tasks.image_segmentation.data import shapes
from tests.tasks.test_speech_classification import RATE, tones
from tests.tasks.test_speech_recognition import tone_words
from tests.tasks.test_text_classification import toy_texts
from toolkit import load, serve

QUICK = dict(epochs=1, verbose=0)


def _pngs(folder, images):
    paths = []
    for i, image in enumerate(images):
        path = folder / f"in{i}.png"
        Image.fromarray(np.asarray(image, np.uint8).squeeze()).save(path)
        paths.append(path)
    return paths


def _images(folder, images):
    """PNGs at the training size, and a JPEG of the first image half as large again: an upload of another
    size and format, resized and decoded in memory exactly as `predict` reads its file."""
    paths = _pngs(folder, images)
    first = Image.open(paths[0])
    first.resize((first.width * 3 // 2, first.height * 3 // 2)).convert("RGB").save(folder / "larger.jpg", quality=90)
    return [*paths, folder / "larger.jpg"]


def _wavs(folder, waves):
    paths = []
    for i, wave in enumerate(waves):
        path = folder / f"in{i}.wav"
        scipy.io.wavfile.write(path, RATE, (np.asarray(wave) * 20000).astype("int16"))
        paths.append(path)
    return paths


def _run(name, tmp_path):
    """(run folder, inputs for /predict) of a tiny fitted run of each task."""
    save = dict(QUICK, save_dir=str(tmp_path / "runs"))
    if name == "image-classification":
        x, y, _ = digits()
        run = ImageClassifier(backbone="mlp", **save).fit((x[:300], y[:300]))
        return run.run_dir, _images(tmp_path, x[300:303])
    if name == "image-segmentation":
        x, y, _ = shapes(count=24, size=32)
        run = ImageSegmenter(backbone="unet", width=4, depth=2, image_size=32, **save).fit((x, y))
        return run.run_dir, _images(tmp_path, x[:2])
    if name == "object-detection":
        from tasks.object_detection.shapes import generated_shapes

        x, targets = generated_shapes(24, size=64)
        data = (x, {"boxes": [b for b, _ in targets], "labels": [lab for _, lab in targets]})
        run = ObjectDetector(image_size=64, width=8, **save).fit(data)
        return run.run_dir, _images(tmp_path, x[:2])
    if name == "image-generation":
        x, y, _ = digits()
        run = ImageGenerator(**save).fit((x[:200], y[:200]))
        return run.run_dir, _images(tmp_path, x[200:202])
    if name == "speech-classification":
        waves, labels = tones()
        run = SpeechClassifier(backbone="lenet", width=8, **save).fit((waves, labels, RATE))
        return run.run_dir, _wavs(tmp_path, tones(2, seed=1)[0])
    if name == "speech-recognition":
        waves, texts = tone_words(24)
        run = SpeechRecognizer(width=16, num_layers=1, **save).fit((waves, texts, RATE))
        return run.run_dir, _wavs(tmp_path, tone_words(2, seed=1)[0])
    texts, labels = toy_texts()
    run = TextClassifier(backbone="cnn", embedding_dim=16, width=8, **save).fit((texts, labels))
    return run.run_dir, ["a fine film", "boring plot and weak acting"]


class Server:
    """`toolkit serve RUN_DIR` in a subprocess on a free port; stopped on exit."""

    def __init__(self, run_dir, *options):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        command = [sys.executable, "-m", "toolkit.cli", "serve", str(run_dir), "--port", str(self.port), *options]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.log = []
        for line in self.process.stderr:  # uvicorn says when it listens; no clock involved
            self.log.append(line)
            if "Uvicorn running on" in line:
                break
        assert self.process.poll() is None, "".join(self.log)[-3000:]

    def call(self, path, body=None, content_type=None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def json(self, path, value):
        return self.call(path, json.dumps(value).encode(), "application/json")

    def upload(self, files, field="files"):
        boundary = uuid.uuid4().hex
        parts = []
        for path in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{path.name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n".encode()
                + path.read_bytes()
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.call("/predict", body, f"multipart/form-data; boundary={boundary}")

    def stop(self):
        self.process.terminate()
        self.process.wait()


TASKS = [
    "image-classification",
    "image-segmentation",
    "object-detection",
    "image-generation",
    "speech-classification",
    "speech-recognition",
    "text-classification",
]


@pytest.fixture(scope="module", params=TASKS)
def fitted(request, tmp_path_factory):
    """(task name, run folder, inputs for predict) of one tiny fitted run per task, shared by this module."""
    folder = tmp_path_factory.mktemp(request.param)
    return (request.param, *_run(request.param, folder))


def test_a_served_run_answers_over_http_as_predict_does(fitted):
    name, run_dir, inputs = fitted
    page = (pathlib.Path(run_dir) / "report.html").read_text()  # every task's run has its report
    assert page.count("data:image/png;base64,") >= 1 and "<h2>Scores</h2>" in page
    own = {
        "image-classification": "Confusion matrix",
        "text-classification": "Confusion matrix",
        "speech-classification": "Confusion matrix",
        "image-segmentation": "Worst and best segmentations",
        "object-detection": "true boxes white, detections",
        "image-generation": "Samples",
        "speech-recognition": "Transcripts",
    }
    assert own[name] in page  # the task's own pictures
    task = load(run_dir)
    expected = [serve.to_json(answer) for answer in task.predict([str(i) for i in inputs])]
    server = Server(run_dir)
    try:
        assert server.call("/health") == (200, {"status": "ok"})
        status, metadata = server.call("/metadata")
        assert status == 200 and metadata["task"] == name and metadata["test"]
        if task.serving_input == "texts":
            status, answer = server.json("/predict", {"texts": inputs})
            assert status == 200 and answer["predictions"] == expected
        else:
            status, answer = server.upload(inputs)  # multipart uploads
            assert status == 200, answer
            assert [{k: v for k, v in p.items() if k != "file"} for p in answer["predictions"]] == [
                e if isinstance(e, dict) else {"prediction": e} for e in expected
            ]
            assert [p["file"] for p in answer["predictions"]] == [i.name for i in inputs]
            files = [{"name": i.name, "base64": base64.b64encode(i.read_bytes()).decode()} for i in inputs]
            assert server.json("/predict", {"files": files})[1] == answer  # the same files as base64 JSON
        if metadata["sample"]:
            status, sampled = server.json("/sample", {"num_samples": 2, "seed": 3})
            assert status == 200 and len(sampled["samples"]) == 2
            assert sampled["samples"][0] == serve.encode_png(task.sample(2, seed=3)[0])
    finally:
        server.stop()


def bad_requests(server, kind, folder):
    """The malformed requests every served task meets (tests/tasks/battery.py): (status, answer) of each."""
    from toolkit.serve import JSON_INPUTS

    field = kind if kind in JSON_INPUTS else "files"
    answers = [server.json("/predict", {field: value}) for value in (5, None, "a.png", {"name": "x"})]
    answers.append(server.call("/predict", b"--x\r\n", "multipart/form-data"))  # no boundary
    if field in JSON_INPUTS:  # a field the run does not take
        status, answer = server.json("/predict", {field: [], "no_such_option": 1})
        assert 'a field "no_such_option" this run does not take' in answer.get("error", ""), answer
        answers.append((status, answer))
    if field == "files":
        corrupt = folder / "corrupt_upload.png"
        corrupt.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        status, answer = server.upload([corrupt])
        assert "corrupt_upload.png" in answer.get("error", ""), answer  # named as uploaded
        answers.append((status, answer))
    return answers


def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(tmp_path):
    run_dir, inputs = _run("image-classification", tmp_path)
    server = Server(run_dir, "--max-upload-mb", "0.01")
    try:
        status, answer = server.call("/predict", b"hello", "text/plain")
        assert status == 415 and "Content type 'text/plain' is not accepted" in answer["error"]
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"\x89PNG not really")
        status, answer = server.upload([broken])
        assert status == 400 and "broken.png" in answer["error"], answer  # named as uploaded
        assert "Expected:" in answer["error"] and "Fix:" in answer["error"]
        status, answer = server.json("/predict", {"images": []})
        assert status == 400 and 'The JSON body has no "files"' in answer["error"]
        status, answer = server.json("/predict", {"files": [{"name": "x.png", "base64": "%%%"}]})
        assert status == 400 and "files[0] is not a file" in answer["error"]
        status, answer = server.call("/predict", b"{not json", "application/json")
        assert status == 400 and "not valid JSON" in answer["error"]
        big = tmp_path / "big.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 80, 3), np.uint8)).save(big)
        status, answer = server.upload([big])
        assert status == 413 and "over this server's limit of 0.01 MB" in answer["error"]
        assert server.call("/health") == (200, {"status": "ok"})  # still serving
        assert server.upload(inputs[:1])[0] == 200
        single = server.upload(inputs[:1], field="file")  # the common name for one upload (curl -F file=@x)
        assert single == server.upload(inputs[:1]) and single[0] == 200
    finally:
        server.stop()


def test_serve_binds_to_this_machine_unless_told(tmp_path):
    from toolkit import cli

    args = cli.build_parser().parse_args(["serve", "runs/x"])
    assert (args.host, args.port, args.max_upload_mb) == ("127.0.0.1", 8000, 20)


@pytest.mark.parametrize(
    "blocked, command, extra",
    [("fastapi", "serve", "serve"), ("uvicorn", "serve", "serve"), ("tf2onnx", "export", "export")],
)
def test_a_missing_extra_is_a_clear_error_naming_it(blocked, command, extra, tmp_path):
    """Serving and export are extras: without them the command says which to install (exit 2), not a traceback."""
    run_dir = tmp_path / "run"
    TextClassifier(backbone="cnn", embedding_dim=8, width=8, epochs=1, verbose=0, save_dir=str(tmp_path),
                   run_name="run").fit(toy_texts())  # fmt: skip
    run_dir = next(tmp_path.glob("*/run"))
    options = ["--format", "onnx"] if command == "export" else ["--port", "0"]
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; from toolkit import cli; "
        f"sys.exit(cli.main([{command!r}, {str(run_dir)!r}, *{options!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"needs the Python package '{blocked}', which is not installed" in done.stderr
    assert f'pip install "keras-toolkit[{extra}]"' in done.stderr and "Traceback" not in done.stderr


# What each format can carry, per task; the reasons are the messages a user gets.
CANNOT = {
    ("speech-recognition", "litert"): "Select TensorFlow op",  # its GRUs over any number of frames: TensorList ops
}


@pytest.mark.parametrize("format", ["savedmodel", "onnx", "litert"])
def test_an_export_matches_the_keras_model_on_held_out_examples_or_says_why_it_cannot(fitted, format, tmp_path):
    name, run_dir, inputs = fitted
    task = load(run_dir)
    if (name, format) in CANNOT:
        with pytest.raises(toolkit.ToolkitError, match=CANNOT[name, format]):
            task.export(tmp_path / "model", format)
        assert not list(tmp_path.iterdir())  # nothing half-written is left
        return
    report = task.export(tmp_path / "model", format)
    assert report["within_tolerance"] and report["max_abs_diff"] <= 1e-4, report
    assert report["top_answers_agree"] in (None, 1.0) and report["size_bytes"] > 1000
    written = json.loads((tmp_path / f"{pathlib.Path(report['path']).name}.export.json").read_text())
    assert written == report and written["examples"] >= 1
    if format == "onnx":  # fed by the Keras model's input names (text: its token ids), and by nothing else
        import onnxruntime

        session = onnxruntime.InferenceSession(report["path"], providers=["CPUExecutionProvider"])
        given = getattr(task.model_, "inputs", None)  # a subclassed model (the VAE) names none
        names = ["token_ids"] if name == "text-classification" else given and [i.name for i in given]
        assert len(session.get_inputs()) == 1 and names in (None, [i.name for i in session.get_inputs()])
    if name == "text-classification" and format != "savedmodel":
        _answers_as_export_json_says(task, report, inputs)


def _answers_as_export_json_says(task, report, texts):
    """A caller with only the export, its vocabulary file and export.json's instructions, tokenising
    in plain Python as they say, gets the model's own probabilities."""
    import string

    assert "lower_and_strip_punctuation" in report["tokenise"] and "'whitespace'" in report["tokenise"]
    lines = pathlib.Path(report["vocabulary"]).read_text(encoding="utf-8").split("\n")[:-1]
    index = {token: i for i, token in enumerate(lines)}
    assert (lines[0], lines[1]) == ("", "[UNK]")
    length = int(report["inputs"]["token_ids"].split(", ")[1].rstrip(")"))
    ids = np.zeros((len(texts), length), np.int64)
    for row, text in enumerate(texts):
        tokens = text.lower().translate(str.maketrans("", "", string.punctuation)).split()
        found = [index.get(t, 1) for t in tokens][:length]
        ids[row, : len(found)] = found
    if report["format"] == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(report["path"], providers=["CPUExecutionProvider"])
        got = session.run(None, {"token_ids": ids})[0]
    else:
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=report["path"])
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], ids.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], ids)
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    predicted = task.predict(texts)
    want = np.array([[p["probabilities"][c] for c in task.classes_] for p in predicted])
    assert np.abs(got - want).max() < 1e-4


def test_export_from_the_command_line_never_replaces_and_a_mismatch_is_an_error(tmp_path, capsys, monkeypatch):
    from toolkit import cli
    from toolkit import export as export_lib

    x, y, _ = digits()
    run_dir = ImageClassifier(backbone="mlp", save_dir=str(tmp_path), **QUICK).fit((x[:200], y[:200])).run_dir
    assert cli.main(["export", run_dir, "--format", "onnx"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"].endswith("exports/model.onnx") and report["within_tolerance"]
    assert cli.main(["export", run_dir, "--format", "onnx"]) == 2
    assert "already exists; an export never replaces" in capsys.readouterr().err
    # int8: calibrated on kept training examples, smaller, its accuracy on the held-out examples reported.
    task = load(run_dir)
    full, small = task.export(tmp_path / "f", "litert"), task.export(tmp_path / "q", "litert", quantize="int8")
    assert small["size_bytes"] < full["size_bytes"] and small["quantize"] == "int8"
    assert (
        small["accuracy_keras"] > 0.5 and small["accuracy_change"] == small["accuracy_export"] - small["accuracy_keras"]
    )
    with pytest.raises(toolkit.ToolkitError, match="quantize='int8' with format='onnx' is not offered"):
        task.export(tmp_path / "o", "onnx", quantize="int8")
    # A runtime that answers differently from Keras: the export is refused, the report says by how much.
    monkeypatch.setattr(export_lib, "_run", lambda format, path, examples: [np.ones((len(examples), 10))])
    with pytest.raises(toolkit.ToolkitError, match="differs from the Keras model by up to"):
        load(run_dir).export(tmp_path / "other", "savedmodel")
    assert json.loads((tmp_path / "other.export.json").read_text())["within_tolerance"] is False
