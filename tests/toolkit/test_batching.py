"""The server's micro-batching (`toolkit.batching`): concurrent requests share one `predict` call and each
gets its own answers; a failing request does not fail the others; a full queue answers 503 with
Retry-After; /metrics counts what was served. No clock is involved: the blocking test holds the model
with events, so which request waits and which is refused is certain."""

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from toolkit.batching import Busy, MicroBatcher
from toolkit.errors import ToolkitError


def _together(batcher, *requests):
    async def run():
        return await asyncio.gather(*(batcher.submit(items) for items in requests), return_exceptions=True)

    return asyncio.run(run())


def test_requests_waiting_together_go_to_the_model_as_one_call_and_each_gets_its_own_answers():
    calls = []

    def predict(items):
        calls.append(list(items))
        return [item * 10 for item in items]

    batcher = MicroBatcher(predict)
    assert _together(batcher, [1, 2], [3], [4, 5, 6]) == [[10, 20], [30], [40, 50, 60]]
    assert calls == [[1, 2, 3, 4, 5, 6]] and list(batcher.batch_sizes) == [6]


def test_a_batch_never_takes_more_than_max_batch_inputs():
    calls = []
    batcher = MicroBatcher(lambda items: calls.append(len(items)) or list(items), max_batch=3)
    assert _together(batcher, [1, 2], [3, 4], [5], [6]) == [[1, 2], [3, 4], [5], [6]]
    assert calls == [2, 3, 1]  # a request is never split across calls


def test_requests_with_other_options_never_share_a_call_and_keep_their_order():
    calls = []

    def predict(items, **options):
        calls.append((list(items), options))
        return [f"{item}{options.get('suffix', '')}" for item in items]

    batcher = MicroBatcher(predict, max_batch=4)

    async def run():
        requests = [([1], None), ([2], {"suffix": "!"}), ([3], None), ([4, 5], {"suffix": "!"}), ([6], {"suffix": "?"})]
        return await asyncio.gather(*(batcher.submit(items, options) for items, options in requests))

    assert asyncio.run(run()) == [["1"], ["2!"], ["3"], ["4!", "5!"], ["6?"]]
    assert calls == [([1, 3], {}), ([2, 4, 5], {"suffix": "!"}), ([6], {"suffix": "?"})]


def test_a_bad_request_gets_its_own_error_and_the_others_their_answers():
    def predict(items):
        if "bad" in items:
            raise ToolkitError("'bad' is not a number.", expected="numbers", fix="send numbers")
        return [int(item) + 1 for item in items]

    batcher = MicroBatcher(predict)
    first, bad, last = _together(batcher, ["1"], ["2", "bad"], ["3"])
    assert first == [2] and last == [4]
    assert isinstance(bad, ToolkitError) and "'bad' is not a number" in str(bad)


def test_a_full_queue_refuses_at_once():
    batcher = MicroBatcher(lambda items: list(items), max_queue=2)
    answers = _together(batcher, [1], [2], [3])
    assert answers[:2] == [[1], [2]] and isinstance(answers[2], Busy) and answers[2].retry_after == 1


class Held:
    """A served task whose predictions wait until the test lets them go."""

    task_name = "held"
    serving_input = "texts"

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def predict(self, texts):
        self.entered.set()
        assert self.release.wait(60)
        return [text.upper() for text in texts]


def _post(port, texts):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps({"texts": texts}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, json.loads(error.read())


@pytest.fixture()
def held_server():
    uvicorn = pytest.importorskip("uvicorn")
    from toolkit import serve

    task = Held()
    app = serve.make_app(task, max_queue=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield task, port, app
    task.release.set()
    server.should_exit = True
    thread.join(30)


def test_a_full_queue_answers_503_with_retry_after_and_the_held_requests_are_answered(held_server):
    task, port, app = held_server
    pool = ThreadPoolExecutor(2)
    try:
        running = pool.submit(_post, port, ["a"])  # taken by the prediction thread, which holds it
        assert task.entered.wait(60)
        waiting = pool.submit(_post, port, ["b"])  # the one place in the queue
        while _metrics(port)["batches"]["queued_requests"] < 1:
            threading.Event().wait(0.01)
        status, headers, answer = _post(port, ["c"])
        assert status == 503 and headers["retry-after"] == "1"
        assert "busy" in answer["error"] and "Fix: retry after 1 s" in answer["error"]
        task.release.set()
        assert running.result()[::2] == (200, {"predictions": ["A"]})
        assert waiting.result()[::2] == (200, {"predictions": ["B"]})
    finally:
        task.release.set()  # a failed check lets the held requests go rather than wait for them
        pool.shutdown()
    metrics = _metrics(port)
    counts = {(row["path"], row["status"]): row["count"] for row in metrics["requests"]}
    assert counts[("/predict", 200)] == 2 and counts[("/predict", 503)] == 1
    assert metrics["latency"]["/predict"]["count"] == 3 and metrics["batches"]["count"] == 2
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
        text = response.read().decode()
    assert 'toolkit_requests_total{path="/predict",status="503"} 1' in text
    assert 'toolkit_request_seconds{path="/predict",quantile="0.50"}' in text


def _metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?format=json") as response:
        return json.loads(response.read())
