"""Serving throughput and latency of `toolkit serve` on this machine, for a digits and an SST-2 model.

    python benchmarks/serving.py --concurrency 4 --requests 200

Trains two runs (digits with the default image classifier; SST-2 `train.tsv` with the default
text classifier for 3 epochs), serves each with `toolkit serve` on a free port on 127.0.0.1 and
sends `--requests` single-example requests from `--concurrency` client threads: digits as a PNG
upload, SST-2 as a JSON sentence from `dev.tsv`. Prints one JSON line per model: requests per
second and the p50 / p99 latency.
"""

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

import numpy as np

DATA = pathlib.Path(os.environ.get("TOOLKIT_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


def train(save_dir):
    from PIL import Image

    from tasks import ImageClassifier, TextClassifier
    from tasks.image_classification.data import digits

    x, y, _ = digits()
    image_run = ImageClassifier(save_dir=save_dir, verbose=0).fit((x, y))
    png = pathlib.Path(save_dir) / "digit.png"
    Image.fromarray(x[0].squeeze().astype(np.uint8)).save(png)
    text_run = TextClassifier(save_dir=save_dir, verbose=0, epochs=3).fit(str(DATA / "sst2" / "train.tsv"))
    sentences = [line.split("\t")[0] for line in (DATA / "sst2" / "dev.tsv").read_text().splitlines()[1:200]]
    return [
        ("digits", image_run, lambda i: _multipart(png)),
        (
            "sst2",
            text_run,
            lambda i: (json.dumps({"texts": [sentences[i % len(sentences)]]}).encode(), "application/json"),
        ),
    ]


def _multipart(path):
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def load_test(name, run, make_request, requests, concurrency):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", "serve", run.run_dir, "--port", str(port)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    for line in server.stderr:
        if "Uvicorn running on" in line:
            break
    url = f"http://127.0.0.1:{port}/predict"
    latencies, failures, lock = [], [], threading.Lock()
    counter = iter(range(requests))

    def client():
        for i in counter:
            body, content_type = make_request(i)
            request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request) as response:
                    response.read()
            except OSError as error:
                failures.append(str(error))
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    body, content_type = make_request(0)  # a first request outside the clock (the first prediction traces)
    urllib.request.urlopen(urllib.request.Request(url, data=body, headers={"Content-Type": content_type})).read()
    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    server.terminate()
    server.wait()
    print(
        json.dumps(
            {
                "model": name,
                "test_accuracy": round(run.metrics_["test"]["accuracy"], 4),
                "requests": len(latencies),
                "failures": len(failures),
                "concurrency": concurrency,
                "requests_per_second": round(len(latencies) / seconds, 1),
                "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
                "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 1),
            }
        ),
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    for name, run, make_request in train(tempfile.mkdtemp()):
        load_test(name, run, make_request, args.requests, args.concurrency)


if __name__ == "__main__":
    main()
