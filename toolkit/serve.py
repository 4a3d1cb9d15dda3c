"""A finished run behind an HTTP API: FastAPI on uvicorn (`toolkit serve RUN_DIR`).

    POST /predict    what the task's `predict` takes, answered as `predict` answers, in JSON:
                     files as multipart uploads (field "files", or "file" for one) or as JSON
                     {"files": [{"name": "a.png", "base64": "..."}]} for image and audio tasks,
                     JSON {"texts": [...]} for text tasks,
                     JSON {"questions": [{"question", "context"}, ...]} for question answering
    POST /sample     generative runs: JSON {"num_samples": 4, "seed": 0, "label": null} -> PNG images
    GET  /health     {"status": "ok"}
    GET  /metadata   the task, its classes, what /predict takes, the run's test and validation scores
    GET  /docs       the OpenAPI page FastAPI writes

Arrays in an answer (a segmentation mask, a reconstruction) come back as {"shape", "png_base64"}.
A bad request (wrong content type, an undecodable file, an upload over the size limit, a missing
field) is a 4xx with the task's own three-part message; the server keeps running. Predictions
run one at a time (a lock: Keras models are not made for concurrent calls from threads).
"""

import base64
import io
import json
import pathlib
import tempfile
import threading

import numpy as np

from toolkit.errors import ToolkitError, require

DEFAULT_MAX_UPLOAD_MB = 20
# The JSON bodies POST /predict takes, by the task's `serving_input`: the type of each item, what the
# list holds, an example body and how to fix a bad one. Other tasks take file uploads.
JSON_INPUTS = {
    "texts": (str, "a list of strings", '{"texts": ["first text", "second text"]}', "send the texts as a JSON list"),
    "questions": (
        dict,
        "a list of {question, context} objects",
        '{"questions": [{"question": "...", "context": "..."}]}',
        "send each question with its context",
    ),
}


def make_app(task, max_upload_mb=DEFAULT_MAX_UPLOAD_MB):
    """The FastAPI application serving `task` (a fitted or loaded task).

    Examples:
        >>> from toolkit import load
        >>> app = make_app(load("saved_models/image_classification/<run>"))  # doctest: +SKIP
    """
    fastapi = require("fastapi", "serve", "toolkit serve")
    require("python_multipart", "serve", "toolkit serve (file uploads)")
    from fastapi.responses import JSONResponse

    limit = int(max_upload_mb * 1024 * 1024)
    lock = threading.Lock()
    kind = task.serving_input
    app = fastapi.FastAPI(
        title=f"toolkit: {task.task_name}",
        description=f"Predictions of the run in {getattr(task, 'run_dir', None)}. /predict takes {_takes(kind)}.",
    )

    @app.exception_handler(ToolkitError)
    def bad_input(request, error):
        return JSONResponse(status_code=400, content={"error": str(error)})

    @app.exception_handler(_UnsupportedType)
    def unsupported_type(request, error):
        return JSONResponse(status_code=415, content={"error": str(error)})

    @app.middleware("http")
    async def size_limit(request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return _too_large(int(length), limit)
        return await call_next(request)

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/metadata")
    def metadata():
        metrics = getattr(task, "metrics_", None) or {}
        return {
            "task": task.task_name,
            "classes": [str(c) for c in getattr(task, "classes_", None) or []] or None,
            "predict_takes": _takes(kind),
            "sample": hasattr(task, "sample"),
            "run_dir": getattr(task, "run_dir", None),
            "test": _scalars(metrics.get("test")),
            "validation": _scalars(metrics.get("validation")),
            "max_upload_mb": max_upload_mb,
        }

    @app.post("/predict")
    async def predict(request: fastapi.Request):
        body = await request.body()
        if len(body) > limit:
            return _too_large(len(body), limit)
        content_type = request.headers.get("content-type", "")
        if kind in JSON_INPUTS:
            item_type, what, example, fix = JSON_INPUTS[kind]
            values = _json_field(content_type, body, kind, what)
            if not isinstance(values, list) or not all(isinstance(v, item_type) for v in values):
                raise ToolkitError(f'"{kind}" must be {what}.', expected=example, fix=fix)
            with lock:
                answers = task.predict(values)
            return {"predictions": [to_json(a, task) for a in answers]}
        files = await _files(request, content_type, body)
        with tempfile.TemporaryDirectory(prefix="toolkit-serve-") as folder:
            paths = []
            for i, (name, data) in enumerate(files):
                path = pathlib.Path(folder) / f"{i}{pathlib.Path(name).suffix.lower()}"
                path.write_bytes(data)
                paths.append(str(path))
            try:
                with lock:
                    answers = task.predict(paths)
            except ToolkitError as error:  # named by the uploads' names, not the server's temporary files
                message = str(error)
                for path, (name, _) in zip(paths, files):
                    message = message.replace(path, name)
                raise ToolkitError(message) from None
        return {"predictions": [{"file": name, **_as_dict(to_json(a, task))} for (name, _), a in zip(files, answers)]}

    if hasattr(task, "sample"):

        @app.post("/sample")
        async def sample(request: fastapi.Request):
            body = await request.body()
            request_json = _json(request.headers.get("content-type", ""), body) if body else {}
            n = request_json.get("num_samples", 4)
            if not isinstance(n, int) or not 1 <= n <= 256:
                raise ToolkitError(
                    f"num_samples={n!r} is not valid.",
                    expected="an integer from 1 to 256",
                    fix='send {"num_samples": 4}',
                )
            with lock:
                images = task.sample(n, seed=int(request_json.get("seed", 0)), label=request_json.get("label"))
            return {"samples": [encode_png(image) for image in images]}

    return app


def serve(task, host="127.0.0.1", port=8000, max_upload_mb=DEFAULT_MAX_UPLOAD_MB):
    """Serves `task` with uvicorn until interrupted (Ctrl+C)."""
    uvicorn = require("uvicorn", "serve", "toolkit serve")
    uvicorn.run(make_app(task, max_upload_mb), host=host, port=port, log_level="info")


def to_json(answer, task=None):
    """One prediction as JSON-ready data: numbers, strings and dicts stay, arrays become PNG images.

    Examples:
        >>> to_json({"label": "cat", "probability": np.float32(0.5), "probabilities": {"cat": 0.5, "dog": 0.5}})
        {'label': 'cat', 'probability': 0.5, 'probabilities': {'cat': 0.5, 'dog': 0.5}}
        >>> sorted(to_json(np.zeros((2, 3), np.uint8)))
        ['png_base64', 'shape']
    """
    if isinstance(answer, dict):
        return {k: to_json(v, task) for k, v in answer.items()}
    if isinstance(answer, (list, tuple)):
        return [to_json(v, task) for v in answer]
    if isinstance(answer, np.ndarray) and answer.ndim >= 2:
        return encode_png(answer)
    if isinstance(answer, np.generic):
        return answer.item()
    return answer


def encode_png(image):
    """A uint8 array (height, width[, channels]) -> {"shape", "png_base64"}."""
    from PIL import Image

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return {"shape": list(np.asarray(image).shape), "png_base64": base64.b64encode(buffer.getvalue()).decode()}


def _as_dict(answer):
    return answer if isinstance(answer, dict) else {"prediction": answer}


def _scalars(metrics):
    if not metrics:
        return None
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


def _takes(kind):
    if kind in JSON_INPUTS:
        return f"JSON {JSON_INPUTS[kind][2]}"
    return 'files: multipart/form-data with one or more "files" (or "file") fields, or JSON {"files": [{"name", "base64"}]}'


def _too_large(size, limit):
    from fastapi.responses import JSONResponse

    return JSONResponse(
        status_code=413,
        content={
            "error": f"The request is {size / 2**20:.3g} MB, over this server's limit of {limit / 2**20:.3g} MB.\n"
            "Expected: smaller uploads\nFix: send fewer or smaller files per request, or start the server "
            "with a larger --max-upload-mb"
        },
    )


def _json(content_type, body):
    if "application/json" not in content_type:
        raise _UnsupportedType(content_type, "application/json")
    try:
        value = json.loads(body or b"null")
    except ValueError as error:
        raise ToolkitError(
            f"The request body is not valid JSON ({error}).", expected="a JSON object", fix="send valid JSON"
        ) from None
    if not isinstance(value, dict):
        raise ToolkitError("The JSON body is not an object.", expected="a JSON object", fix="send {...}")
    return value


def _json_field(content_type, body, field, what):
    value = _json(content_type, body)
    if field not in value:
        raise ToolkitError(f'The JSON body has no "{field}".', expected=f'{{"{field}": {what}}}', fix=f'add "{field}"')
    return value[field]


async def _files(request, content_type, body):
    """[(name, bytes)] from a multipart upload or a JSON list of base64 files."""
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form()
        except Exception as error:  # Starlette's MultiPartException / a parser error: a malformed body
            raise ToolkitError(
                f"The multipart body cannot be read ({getattr(error, 'message', None) or error}).",
                expected='multipart/form-data with a boundary in the Content-Type and one or more "files" fields',
                fix="let your HTTP client build the multipart body (curl -F files=@cat.jpg, requests' files=)",
            ) from None
        # "files" (one or more), and "file", the common name for a single upload (curl -F file=@cat.jpg)
        uploads = form.getlist("files") + form.getlist("file")
        files = [(upload.filename or "upload", await upload.read()) for upload in uploads if hasattr(upload, "read")]
    elif "application/json" in content_type:
        files = []
        listed = _json_field(content_type, body, "files", '[{"name": "a.png", "base64": "..."}]')
        if not isinstance(listed, list):
            raise ToolkitError(
                f'"files" is {json.dumps(listed)}, not a list.',
                expected='{"files": [{"name": "a.png", "base64": "<the file, base64-encoded>"}]}',
                fix="send the files as a JSON list of objects",
            )
        for i, item in enumerate(listed):
            try:
                files.append((str(item.get("name", f"file{i}")), base64.b64decode(item["base64"], validate=True)))
            except (AttributeError, KeyError, TypeError, ValueError):
                raise ToolkitError(
                    f"files[{i}] is not a file.",
                    expected='{"name": "a.png", "base64": "<the file, base64-encoded>"}',
                    fix="send each file as an object with its name and base64 content",
                ) from None
    else:
        raise _UnsupportedType(content_type, "multipart/form-data or application/json")
    if not files:
        raise ToolkitError(
            "The request holds no files.",
            expected='one or more "files" (or "file") fields',
            fix="attach the files to predict",
        )
    return files


class _UnsupportedType(ToolkitError):
    def __init__(self, found, expected):
        super().__init__(
            f"Content type {found or 'none'!r} is not accepted here.",
            expected=expected,
            fix=f"send the request as {expected}",
        )
