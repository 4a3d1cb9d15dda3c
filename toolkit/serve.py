"""A finished run behind an HTTP API: FastAPI on uvicorn (`toolkit serve RUN_DIR`).

    POST /predict    what the task's `predict` takes, answered as `predict` answers, in JSON:
                     files as multipart uploads (field "files", or "file" for one) or as JSON
                     {"files": [{"name": "a.png", "base64": "..."}]} for image and audio tasks,
                     JSON {"texts": [...]} for text tasks; generation takes its options per
                     request beside them: {"texts": [...], "max_length": 50, "sampler": "top_k",
                     "seed": 3} (text-to-text: "decoder", "beam_width")
                     JSON {"questions": [{"question", "context"}, ...]} for question answering
                     JSON {"rows": [{column: value, ...}, ...]} for tables
                     JSON {"series": [[v0, v1, ...], ...]} for series classification
    POST /sample     generative runs: JSON {"num_samples": 4, "seed": 0, "label": null} -> PNG images
    GET  /health     {"status": "ok"}
    GET  /metadata   the task, its classes, what /predict takes, the run's test and validation scores
    GET  /metrics    request counts by path and status, latency percentiles, batch sizes (Prometheus'
                     text format; ?format=json for JSON)
    GET  /docs       the OpenAPI page FastAPI writes

Requests never block the event loop: uploads are decoded from memory in threads (`decode_upload`, the
decoder `predict` uses for files), and concurrent requests are micro-batched into one `predict` call
on one prediction thread (`toolkit.batching`). When `max_queue` requests wait, new ones get a 503 with
Retry-After. Arrays in an answer (a segmentation mask, a reconstruction) come back as {"shape",
"png_base64"}. A bad request (wrong content type, an undecodable file, an upload over the size limit,
a missing field) is a 4xx with the task's own three-part message; the server keeps running.
"""

import asyncio
import base64
import functools
import io
import json
import os
import time

import numpy as np

from toolkit.batching import Busy, Latencies, MicroBatcher
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
    "series": (
        list,
        "a list of series (each a list of numbers, or of one list of channel values per step)",
        '{"series": [[0.1, 0.4, 0.3, 0.2], [0.5, 0.1, 0.0, 0.2]]}',
        "send each series as a JSON list of its values",
    ),
    "rows": (
        dict,
        "a list of {column: value} objects",
        '{"rows": [{"island": "Biscoe", "bill_length_mm": 47.5, "sex": null}]}',
        "send each row as an object of its columns (null for a missing value)",
    ),
}
ROUTES = ("/predict", "/sample", "/health", "/metadata", "/metrics")


def make_app(task, max_upload_mb=DEFAULT_MAX_UPLOAD_MB, max_batch=64, wait_ms=0.0, max_queue=256):
    """The FastAPI application serving `task` (a fitted or loaded task).

    Args:
        task: the fitted or loaded task.
        max_upload_mb: the largest request body accepted (413 above it).
        max_batch: the most inputs one `predict` call takes when concurrent requests are batched.
        wait_ms: how long a batch waits for more requests (0: it takes the requests already waiting).
        max_queue: the most requests waiting for the model; more are answered 503 with Retry-After.

    Examples:
        >>> from toolkit import load
        >>> app = make_app(load("saved_models/image_classification/<run>"))  # doctest: +SKIP
    """
    fastapi = require("fastapi", "serve", "toolkit serve")
    require("python_multipart", "serve", "toolkit serve (file uploads)")
    from fastapi.responses import JSONResponse, PlainTextResponse

    limit = int(max_upload_mb * 1024 * 1024)
    kind = task.serving_input

    def predict(items, **options):  # a request's own options go to `generate`
        return task.generate(items, **options) if options else task.predict(items)

    batcher = MicroBatcher(predict, max_batch=max_batch, wait_ms=wait_ms, max_queue=max_queue)
    latencies = Latencies()
    app = fastapi.FastAPI(
        title=f"toolkit: {task.task_name}",
        description=f"Predictions of the run in {getattr(task, 'run_dir', None)}. /predict takes {_takes(kind)}.",
    )
    app.add_middleware(_Watch, limit=limit, latencies=latencies)

    @app.exception_handler(ToolkitError)
    def bad_input(request, error):
        return JSONResponse(status_code=400, content={"error": str(error)})

    @app.exception_handler(_UnsupportedType)
    def unsupported_type(request, error):
        return JSONResponse(status_code=415, content={"error": str(error)})

    @app.exception_handler(Busy)
    def busy(request, error):
        return JSONResponse(
            status_code=503,
            headers={"Retry-After": str(error.retry_after)},
            content={
                "error": f"The server is busy: {max_queue} requests are waiting for the model.\nExpected: fewer "
                f"requests at once\nFix: retry after {error.retry_after} s, or start more workers (--workers)"
            },
        )

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/metadata")
    async def metadata():
        metrics = getattr(task, "metrics_", None) or {}
        return {
            "task": task.task_name,
            "classes": [str(c) for c in getattr(task, "classes_", None) or []] or None,
            "predict_takes": _takes(kind),
            "options": {name: kind_.__name__ for name, kind_ in getattr(task, "serving_options", {}).items()},
            "sample": hasattr(task, "sample"),
            "run_dir": getattr(task, "run_dir", None),
            "test": _scalars(metrics.get("test")),
            "validation": _scalars(metrics.get("validation")),
            "max_upload_mb": max_upload_mb,
        }

    @app.get("/metrics")
    async def metrics(format: str = "prometheus"):
        if format == "json":
            return latencies.summary(batcher)
        return PlainTextResponse(latencies.prometheus(batcher), media_type="text/plain; version=0.0.4")

    @app.post("/predict")
    async def predict(request: fastapi.Request):
        body = await request.body()
        if len(body) > limit:
            return _too_large(len(body), limit)
        content_type = request.headers.get("content-type", "")
        if kind in JSON_INPUTS:
            item_type, what, example, fix = JSON_INPUTS[kind]
            request_json = _json(content_type, body)  # parsed once: the field and the request's options
            values = _field(request_json, kind, what)
            if not isinstance(values, list) or not all(isinstance(v, item_type) for v in values):
                raise ToolkitError(f'"{kind}" must be {what}.', expected=example, fix=fix)
            answers = await batcher.submit(values, _options(request_json, kind, getattr(task, "serving_options", {})))
            return {"predictions": [to_json(a, task) for a in answers]}
        files = await _files(request, content_type, body)
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(None, lambda: [task.decode_upload(name, data) for name, data in files])
        answers = await batcher.submit(decoded)
        shown = await loop.run_in_executor(None, lambda: [_as_dict(to_json(a, task)) for a in answers])
        return {"predictions": [{"file": name, **answer} for (name, _), answer in zip(files, shown)]}

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
            draw = functools.partial(
                task.sample, n, seed=int(request_json.get("seed", 0)), label=request_json.get("label")
            )
            images = await batcher.run_alone(draw)
            return {"samples": [encode_png(image) for image in images]}

    return app


def serve(task, host="127.0.0.1", port=8000, max_upload_mb=DEFAULT_MAX_UPLOAD_MB, workers=1, **batching):
    """Serves `task` with uvicorn until interrupted (Ctrl+C).

    With `workers` > 1, uvicorn starts that many processes, each loading the run from `task.run_dir`
    (each has its own model, batcher and /metrics). `batching`: `max_batch`, `wait_ms`, `max_queue`.
    """
    uvicorn = require("uvicorn", "serve", "toolkit serve")
    if workers > 1:
        os.environ["TOOLKIT_SERVE"] = json.dumps({"run_dir": task.run_dir, "max_upload_mb": max_upload_mb, **batching})
        uvicorn.run("toolkit.serve:app_from_environment", factory=True, workers=workers, host=host, port=port)
        return
    uvicorn.run(make_app(task, max_upload_mb, **batching), host=host, port=port, log_level="info")


def app_from_environment():
    """The app of one worker process: the run and options `serve` put in TOOLKIT_SERVE."""
    from toolkit.saving import load

    options = json.loads(os.environ["TOOLKIT_SERVE"])
    return make_app(load(options.pop("run_dir")), **options)


class _Watch:
    """ASGI middleware (plain ASGI: Starlette's BaseHTTPMiddleware costs more per request than a small
    model's prediction): refuses bodies over the size limit from their Content-Length, and times every
    request for /metrics."""

    def __init__(self, app, limit, latencies):
        self.app, self.limit, self.latencies = app, limit, latencies

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]
        path = scope["path"] if scope["path"] in ROUTES else "other"

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.limit:
                await _too_large(int(length), self.limit)(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        finally:
            self.latencies.record(path, status[0], time.perf_counter() - start)


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


def _options(request_json, kind, allowed):
    """The request's own `generate` options (fields beside `kind`), each checked against its type.

    Examples:
        >>> _options({"texts": ["a"], "seed": 3}, "texts", {"seed": int})
        {'seed': 3}
    """
    options = {k: v for k, v in request_json.items() if k != kind}
    for name, value in options.items():
        if name not in allowed:
            accepted = ", ".join(f'"{k}"' for k in [kind, *allowed])
            raise ToolkitError(
                f'The request has a field "{name}" this run does not take.',
                expected=f"the fields {accepted}",
                fix=f'send {{"{kind}": [...]}}' + (f" and any of {', '.join(allowed)}" if allowed else ""),
            )
        wanted = allowed[name]
        good = isinstance(value, wanted) and not isinstance(value, bool)
        if wanted is float:
            good = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not good:
            raise ToolkitError(
                f'"{name}" is {json.dumps(value)}.', expected=f"a JSON {wanted.__name__}", fix=f"send {name} as one"
            )
    return options


def _field(value, field, what):
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
        listed = _field(_json(content_type, body), "files", '[{"name": "a.png", "base64": "..."}]')
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
