"""`toolkit serve` against a bare FastAPI endpoint on one traced function, same model, back to back.

    python benchmarks/serving.py --requests 400 --repeats 3

Trains the default image classifier on the bundled digits (or reuses `--run`), then for concurrency 1
and 8 starts, in turn, `toolkit serve RUN` and the bare endpoint (this file, `--bare`: FastAPI, the
run's `model.keras`, `tf.io.decode_png` and one `tf.function` in the request handler, no batching, no
checks), each in its own process on 127.0.0.1, and sends `--requests` single-PNG multipart uploads from
that many client threads on keep-alive connections. Prints one JSON line per (server, concurrency,
repeat) and the medians over the repeats, with the machine's load average beside them.

The bar (issue "Fast inference"): at concurrency 8 the toolkit's throughput is at least half the bare
endpoint's; at concurrency 1 its p50 latency at most twice the bare p50; no failures.
"""

import argparse
import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def bare_app(run_dir):
    """The bare endpoint: decode the PNG, call the traced model, answer the label and probabilities."""
    import fastapi
    import keras
    import tensorflow as tf

    import toolkit.images  # noqa: F401  (registers the model's custom layers, as any script loading it must)

    config = json.loads((pathlib.Path(run_dir) / "config.json").read_text())
    classes = config["fitted"]["preprocessor_"]["state"]["classes"]
    model = keras.saving.load_model(pathlib.Path(run_dir) / "model.keras", compile=False)
    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    app = fastapi.FastAPI()

    @app.post("/predict")
    async def predict(request: fastapi.Request):
        form = await request.form()
        upload = form["files"]
        image = tf.io.decode_png(await upload.read(), channels=1)
        probabilities = call(tf.cast(image, "float32")[None]).numpy()[0]
        return {
            "predictions": [
                {
                    "file": upload.filename,
                    "label": classes[int(probabilities.argmax())],
                    "probability": float(probabilities.max()),
                    "probabilities": {str(c): float(p) for c, p in zip(classes, probabilities)},
                }
            ]
        }

    return app


def train(folder):
    from tasks import ImageClassifier
    from tasks.image_classification.data import digits

    x, y, _ = digits()
    return ImageClassifier(save_dir=folder, verbose=0).fit((x, y)).run_dir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind, run_dir, port):
    if kind == "toolkit":
        command = [sys.executable, "-m", "toolkit.cli", "serve", run_dir, "--port", str(port)]
    else:
        command = [sys.executable, __file__, "--bare", run_dir, "--port", str(port)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT)
    log = []
    for line in server.stderr:
        log.append(line)
        if "Uvicorn running on" in line:
            break
    if server.poll() is not None:
        raise RuntimeError(f"the {kind} server did not start:\n{''.join(log)[-3000:]}")
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()  # keep the pipe drained
    return server


def multipart(path):
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def load_test(port, body, headers, requests, concurrency):
    latencies, failures, lock = [], [], threading.Lock()
    counter = iter(range(requests))
    answers = []

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port)
        for _ in counter:
            begin = time.perf_counter()
            try:
                connection.request("POST", "/predict", body, headers)
                response = connection.getresponse()
                data = response.read()
            except OSError as error:
                failures.append(str(error))
                connection = http.client.HTTPConnection("127.0.0.1", port)
                continue
            seconds = time.perf_counter() - begin
            with lock:
                if response.status != 200:
                    failures.append(response.status)
                    continue
                latencies.append(seconds)
                if not answers:
                    answers.append(json.loads(data)["predictions"][0]["label"])
        connection.close()

    for _ in range(20):  # warm-up outside the clock (the first calls trace)
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("POST", "/predict", body, headers)
        connection.getresponse().read()
    begin = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - begin
    return {
        "requests": len(latencies),
        "failures": len(failures),
        "requests_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 2),
        "label": answers[0] if answers else None,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare", metavar="RUN", help="(internal) serve RUN on the bare endpoint")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--run", help="a finished digits image-classification run (default: train one)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.bare:
        import uvicorn

        uvicorn.run(bare_app(args.bare), host="127.0.0.1", port=args.port, log_level="info")
        return
    run_dir = args.run or train(tempfile.mkdtemp())
    from PIL import Image

    from tasks.image_classification.data import digits

    png = pathlib.Path(tempfile.mkdtemp()) / "digit.png"
    Image.fromarray(digits()[0][-1].squeeze().astype(np.uint8)).save(png)
    body, headers = multipart(png)
    rows = []
    for concurrency in (1, 8):
        for repeat in range(args.repeats):
            for kind in ("toolkit", "bare"):
                port = free_port()
                server = start(kind, run_dir, port)
                try:
                    row = {"server": kind, "concurrency": concurrency, "repeat": repeat}
                    row.update(load_test(port, body, headers, args.requests, concurrency))
                    row["load_average"] = round(os.getloadavg()[0], 2)
                finally:
                    server.terminate()
                    server.wait()
                print(json.dumps(row), flush=True)
                rows.append(row)
    for concurrency in (1, 8):
        median = {}
        for kind in ("toolkit", "bare"):
            mine = [r for r in rows if r["server"] == kind and r["concurrency"] == concurrency]
            median[kind] = {
                k: float(np.median([r[k] for r in mine])) for k in ("requests_per_second", "p50_ms", "p99_ms")
            }
            median[kind]["failures"] = sum(r["failures"] for r in mine)
        summary = {
            "concurrency": concurrency,
            "toolkit": median["toolkit"],
            "bare": median["bare"],
            "throughput_ratio": round(
                median["toolkit"]["requests_per_second"] / median["bare"]["requests_per_second"], 3
            ),
            "p50_ratio": round(median["toolkit"]["p50_ms"] / median["bare"]["p50_ms"], 3),
        }
        print(json.dumps({"median": summary}), flush=True)


if __name__ == "__main__":
    main()
