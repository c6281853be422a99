"""HTTP reads of one KumoMTA node, each bounded by the per-request timeout.

Connection problems and timeouts raise :class:`~kumowatch_poller.errors.FetchError`; any HTTP
answer is returned as a :class:`Reply` and the caller decides what its status means.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import orjson
from pydantic import SecretStr

from kumowatch_poller.config import Node
from kumowatch_poller.errors import FetchError

METRICS_TEXT: Final = "/metrics"
METRICS_JSON: Final = "/metrics.json"
LIVENESS: Final = "/api/check-liveness/v1"
MACHINE_INFO: Final = "/api/machine-info"
SUSPEND: Final = "/api/admin/suspend/v1"
SUSPEND_READY: Final = "/api/admin/suspend-ready-q/v1"
BOUNCE: Final = "/api/admin/bounce/v1"
READY_Q_STATES: Final = "/api/admin/ready-q-states/v1"
_MAX_REASON: Final = 300


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer: status, body and how long it took (seconds)."""

    status: int
    body: bytes
    elapsed: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body as one short line (for reasons shown to people)."""
        line = " ".join(self.body.decode("utf-8", "replace").split())
        return line[:_MAX_REASON]

    def json(self, path: str) -> Any:
        """The body as JSON, or FetchError(garbage)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise FetchError(path, "garbage", f"not JSON: {exc}", self.status) from None


class KumoClient:
    """GETs against one node with a shared session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        node: Node,
        timeout: float,
        token: SecretStr | None = None,
    ) -> None:
        self.session = session
        self.node = node
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.headers: dict[str, str] = {"Accept-Encoding": "gzip, deflate"}
        if token is not None and token.get_secret_value():
            self.headers["Authorization"] = f"Bearer {token.get_secret_value()}"

    async def get(self, path: str) -> Reply:
        """One GET; raises FetchError for refused connections and timeouts."""
        started = time.monotonic()
        try:
            async with self.session.get(
                self.node.url + path, headers=self.headers, timeout=self.timeout
            ) as resp:
                body = await resp.read()
                return Reply(resp.status, body, time.monotonic() - started)
        except TimeoutError:
            raise FetchError(path, "timeout", f"no answer within {self.timeout.total} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise FetchError(path, "refused", _describe(exc)) from None
        except aiohttp.ClientError as exc:
            raise FetchError(path, "garbage", _describe(exc)) from None

    async def get_json(self, path: str) -> Any:
        """A GET that must answer 2xx with JSON."""
        reply = await self.get(path)
        if not reply.ok:
            raise FetchError(path, "http", f"HTTP {reply.status}: {reply.text()}", reply.status)
        return reply.json(path)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:_MAX_REASON]


async def gather_json(client: KumoClient, paths: list[str]) -> list[Any]:
    """Several JSON GETs at once; a failed one yields its FetchError in place of a value."""
    results = await asyncio.gather(*(client.get_json(p) for p in paths), return_exceptions=True)
    out: list[Any] = []
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, FetchError):
            raise result
        out.append(result)
    return out
