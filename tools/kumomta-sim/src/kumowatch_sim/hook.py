"""Log hook delivery: POST log records to a webhook without blocking the traffic model.

``single`` mirrors ``log_hooks:new_json`` (one record per POST; a non-2xx answer is a permanent
failure and the record is dropped). ``batch`` mirrors a batched hook: a JSON array of up to
``batch_size`` records, and the whole batch is retried with jittered exponential backoff on
5xx, 429, timeouts and connection errors. In both modes connection errors and timeouts retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import asdict, dataclass
from typing import Any, Literal

import aiohttp
import orjson

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HookStats:
    """Counters of the hook sender."""

    submitted: int = 0
    delivered: int = 0
    posts: int = 0
    retries: int = 0
    failed: int = 0
    dropped_overflow: int = 0


class LogHookSender:
    """A bounded queue of records and the worker tasks that POST them."""

    def __init__(
        self,
        url: str,
        *,
        mode: Literal["single", "batch"] = "single",
        batch_size: int = 100,
        headers: dict[str, str] | None = None,
        queue_size: int = 50_000,
        timeout: float = 5.0,
        concurrency: int = 4,
        backoff: float = 0.05,
        max_backoff: float = 5.0,
        name: str = "webhook",
    ) -> None:
        self.url = url
        self.mode = mode
        self.name = name
        self.batch_size = batch_size if mode == "batch" else 1
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.stats = HookStats()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._concurrency = concurrency
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._jitter = random.Random()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def submit(self, record: dict[str, Any]) -> None:
        """Queue a record; never blocks. A full queue drops the record and counts it."""
        self.stats.submitted += 1
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.stats.dropped_overflow += 1
            return
        self._idle.clear()

    def backlog(self) -> int:
        """Records queued or in flight."""
        return self._queue.qsize() + self._inflight

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"log-hook-{i}")
            for i in range(self._concurrency)
        ]

    async def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while self.backlog():
                    self._idle.clear()
                    await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self, drain: float = 2.0) -> None:
        """Give queued records ``drain`` seconds to go out, then stop the workers."""
        if self._tasks:
            await self.wait_idle(drain)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "mode": self.mode, "backlog": self.backlog(), **asdict(self.stats)}

    async def _worker(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            self._inflight += len(batch)
            try:
                await self._send(batch)
            finally:
                self._inflight -= len(batch)
                for _ in batch:
                    queue.task_done()
                if not self.backlog():
                    self._idle.set()

    async def _send(self, batch: list[dict[str, Any]]) -> None:
        body = orjson.dumps(batch if self.mode == "batch" else batch[0])
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                assert self._session is not None
                async with self._session.post(self.url, data=body, headers=self.headers) as resp:
                    await resp.read()
                    status = resp.status
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = None
                log.debug("log hook POST failed: %s", exc)
            self.stats.posts += 1
            if status is not None and 200 <= status < 300:
                self.stats.delivered += len(batch)
                return
            transient = status is None or (
                self.mode == "batch" and (status >= 500 or status == 429)
            )
            if not transient:
                self.stats.failed += len(batch)
                return
            self.stats.retries += 1
            delay = min(self._max_backoff, self._backoff * 2**attempt)
            delay *= self._jitter.uniform(0.5, 1.5)
            if retry_after is not None:
                delay = max(delay, min(retry_after, self._max_backoff))
            attempt += 1
            await asyncio.sleep(delay)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
