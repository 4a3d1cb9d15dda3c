"""Micro-batching for the server: concurrent requests' inputs go to the model as one `predict` call.

A request hands its list of inputs to `MicroBatcher.submit` and awaits its own answers. One worker
thread runs the predictions, one batch at a time (a Keras model is not made for concurrent calls from
threads), so the event loop never blocks. A batch is every request that arrived while the previous
one ran (up to `max_batch` inputs), plus those arriving within `wait_ms` when it is set: at
concurrency 1 no request waits for company, at concurrency 8 eight requests share one model call.
A request whose inputs fail is answered with its own error; the others in its batch are answered
alone. A full queue refuses new requests at once (`Busy`), which the server turns into a 503.

Written here because no library in the toolkit's dependencies does this for an arbitrary Python
`predict` (Ray Serve and Triton batch this way, as whole serving systems).
"""

import asyncio
import collections
import concurrent.futures
import functools
import time

import numpy as np

from toolkit.errors import ToolkitError


class Busy(Exception):
    """The queue is full: the request is refused, to be retried in `retry_after` seconds."""

    def __init__(self, retry_after):
        super().__init__(f"the prediction queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class MicroBatcher:
    """Runs `predict(list) -> list` (one answer per input) on batches of concurrent requests.

    Args:
        predict: the task's `predict` (or any function of a list that answers each item in order).
        max_batch: the most inputs one call takes.
        wait_ms: how long a batch waits for more requests after the first (0: only those already queued).
        max_queue: the most requests waiting; more are refused with `Busy`.

    Examples:
        >>> async def demo():
        ...     batcher = MicroBatcher(lambda items: [2 * x for x in items])
        ...     return await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3]))
        >>> asyncio.run(demo())
        [[2, 4], [6]]
    """

    def __init__(self, predict, max_batch=64, wait_ms=0.0, max_queue=256):
        self.predict, self.max_batch, self.wait, self.max_queue = predict, max_batch, wait_ms / 1000, max_queue
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="toolkit-predict")
        self.waiting = collections.deque()
        self.wake = None  # an asyncio.Event of the running loop, made on first use
        self.runner = None
        self.batch_sizes = collections.deque(maxlen=4096)

    async def submit(self, items, options=None):
        """This request's answers (a list, one per item), once its batch has run. Requests with other
        `options` (keyword arguments of `predict`, such as a sampler per request) never share a batch."""
        loop = asyncio.get_running_loop()
        if self.runner is None or self.runner.done():
            self.wake = asyncio.Event()
            self.runner = loop.create_task(self._run())
        if len(self.waiting) >= self.max_queue:
            raise Busy(retry_after=1)
        future = loop.create_future()
        self.waiting.append((list(items), future, tuple(sorted((options or {}).items()))))
        self.wake.set()
        return await future

    async def run_alone(self, function, *args):
        """`function(*args)` on the prediction thread, between batches (sampling images, generating)."""
        return await asyncio.get_running_loop().run_in_executor(self.worker, function, *args)

    def queued(self):
        return len(self.waiting)

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            if not self.waiting:
                self.wake.clear()
                await self.wake.wait()
            if self.wait:
                deadline = loop.time() + self.wait
                while _count(self.waiting) < self.max_batch and loop.time() < deadline:
                    await asyncio.sleep(min(0.001, deadline - loop.time()))
            batch, count, options = self._take()
            self.batch_sizes.append(count)
            run = functools.partial(self._answer, [items for items, _, _ in batch], dict(options))
            outcomes = await loop.run_in_executor(self.worker, run)
            for (_, future, _), (answers, error) in zip(batch, outcomes):
                if future.done():  # the client went away
                    continue
                if error is None:
                    future.set_result(answers)
                else:
                    future.set_exception(error)

    def _take(self):
        """The next batch: the first waiting request and the ones after it with the same options, in
        order, up to `max_batch` items (a request is never split); the others keep their places."""
        first = self.waiting.popleft()
        batch, count, options = [first], len(first[0]), first[2]
        kept = collections.deque()
        while self.waiting:
            if self.waiting[0][2] != options:
                kept.append(self.waiting.popleft())
                continue
            if count + len(self.waiting[0][0]) > self.max_batch:
                break
            request = self.waiting.popleft()
            batch.append(request)
            count += len(request[0])
        kept.extend(self.waiting)
        self.waiting = kept
        return batch, count, options

    def _answer(self, requests, options=None):
        """[(answers, None) or (None, error)] per request: one call for all, or one each when it fails."""
        merged = [item for items in requests for item in items]
        try:
            answers = list(self.predict(merged, **(options or {})))
        except Exception as error:
            if len(requests) == 1:
                return [(None, error)]
            return [self._answer([items], options)[0] for items in requests]  # find the request the error is in
        if len(answers) != len(merged):
            error = ToolkitError(f"predict answered {len(answers)} of {len(merged)} inputs.")
            return [(None, error)] * len(requests)
        outcomes, start = [], 0
        for items in requests:
            outcomes.append((answers[start : start + len(items)], None))
            start += len(items)
        return outcomes


class Latencies:
    """Request counts by path and status, and latency percentiles of the last `keep` requests per path."""

    def __init__(self, keep=4096):
        self.started = time.time()
        self.counts = collections.Counter()
        self.seconds = collections.defaultdict(lambda: collections.deque(maxlen=keep))
        self.total = collections.Counter()

    def record(self, path, status, seconds):
        self.counts[(path, status)] += 1
        self.seconds[path].append(seconds)
        self.total[path] += seconds

    def summary(self, batcher=None):
        """{"requests": [...], "latency": {path: {count, p50_ms, p90_ms, p99_ms}}, "batches": {...}}."""
        latency = {}
        for path, values in self.seconds.items():
            ms = 1000 * np.asarray(values)
            latency[path] = {
                "count": sum(n for (p, _), n in self.counts.items() if p == path),
                "sum_seconds": round(self.total[path], 6),
                **{f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99)},
            }
        out = {
            "uptime_seconds": round(time.time() - self.started, 1),
            "requests": [{"path": p, "status": s, "count": n} for (p, s), n in sorted(self.counts.items())],
            "latency": latency,
        }
        if batcher is not None:
            sizes = list(batcher.batch_sizes)
            out["batches"] = {
                "count": len(sizes),
                "mean_inputs": round(float(np.mean(sizes)), 3) if sizes else 0.0,
                "largest_inputs": max(sizes, default=0),
                "queued_requests": batcher.queued(),
            }
        return out

    def prometheus(self, batcher=None):
        """The summary in Prometheus' text format (what `GET /metrics` answers)."""
        summary = self.summary(batcher)
        lines = ["# TYPE toolkit_requests_total counter"]
        for row in summary["requests"]:
            lines.append(f'toolkit_requests_total{{path="{row["path"]}",status="{row["status"]}"}} {row["count"]}')
        lines.append("# TYPE toolkit_request_seconds summary")
        for path, values in summary["latency"].items():
            for q in (50, 90, 99):
                lines.append(
                    f'toolkit_request_seconds{{path="{path}",quantile="0.{q}"}} {values[f"p{q}_ms"] / 1000:.6f}'
                )
            lines.append(f'toolkit_request_seconds_count{{path="{path}"}} {values["count"]}')
            lines.append(f'toolkit_request_seconds_sum{{path="{path}"}} {values["sum_seconds"]}')
        if "batches" in summary:
            batches = summary["batches"]
            lines += [
                "# TYPE toolkit_batches_total counter",
                f"toolkit_batches_total {batches['count']}",
                "# TYPE toolkit_batch_mean_inputs gauge",
                f"toolkit_batch_mean_inputs {batches['mean_inputs']}",
                "# TYPE toolkit_queued_requests gauge",
                f"toolkit_queued_requests {batches['queued_requests']}",
            ]
        return "\n".join(lines) + "\n"


def _count(waiting):
    return sum(len(request[0]) for request in waiting)
