"""``/api/openapi.json``: generated from the models, complete, and a schemathesis run finds no 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import hypothesis
import nats
import pytest
import requests
import schemathesis
from gateway_support import SECRET, Gateway, token
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from kumowatch_common import events, subjects
from kumowatch_common.testing import NatsServer, ServiceProcess, free_port
from kumowatch_gateway.app import routes


async def _spec(http: aiohttp.ClientSession, gw: Gateway) -> dict[str, Any]:
    async with http.get(f"{gw.url}/api/openapi.json") as r:
        assert r.status == 200
        return await r.json()  # type: ignore[no-any-return]


async def test_document_is_openapi_31_and_covers_every_route(
    http: aiohttp.ClientSession, gw: Gateway
) -> None:
    spec = await _spec(http, gw)
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for route in routes():
        op = spec["paths"][route.path][route.method.lower()]
        ok = next(s for s in op["responses"] if s.startswith("2"))
        assert "schema" in op["responses"][ok]["content"]["application/json"]
        if route.body is not None:
            assert "schema" in op["requestBody"]["content"]["application/json"]
        if route.access == "public":
            assert "security" not in op
        else:
            assert op["security"] == [{"bearerAuth": []}]
            assert {"401", "403"} <= op["responses"].keys()
    schemas = spec["components"]["schemas"]
    assert {"AlertRule", "Alert", "QueueUpdate", "ErrorResponse"} <= schemas.keys()
    assert "for" in schemas["AlertRule"]["properties"]


def _notifier(url: str, stop: threading.Event, ready: threading.Event) -> None:
    """A stand-in notifier answering test requests, on its own thread and loop."""

    async def main() -> None:
        nc = await nats.connect(url)

        async def answer(msg: Any) -> None:
            req = events.NotificationTestRequest.from_bytes(msg.data)
            reply = events.NotificationTestReply(channel=req.channel, ok=False, error="fuzz")
            await msg.respond(reply.to_bytes())

        await nc.subscribe(subjects.NOTIFIER_TEST, queue="notifier", cb=answer)
        await nc.flush()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await nc.drain()

    asyncio.run(main())


@pytest.fixture(scope="module")
def live_gateway() -> Iterator[str]:
    """A gateway process on its own NATS, so fuzzed writes reach no other test."""
    nats_server = NatsServer(name="kw-gateway-fuzz").start()
    stop, ready = threading.Event(), threading.Event()
    notifier = threading.Thread(target=_notifier, args=(nats_server.url, stop, ready))
    notifier.start()
    assert ready.wait(20)
    port = free_port()
    proc = ServiceProcess(
        "kumowatch_gateway",
        {
            "PORT": str(port),
            "NATS_URL": nats_server.url,
            "JWT_SECRET": SECRET,
            "LOG_LEVEL": "ERROR",
        },
        port=port,
    ).start()
    try:
        proc.wait_ready(30)
        yield f"http://127.0.0.1:{port}"
    finally:
        code = proc.stop()
        stop.set()
        notifier.join(10)
        nats_server.cleanup()
        assert code == 0, proc.log_tail()


def test_schemathesis_finds_no_server_errors(live_gateway: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_gateway}/api/openapi.json")
    headers = {"Authorization": f"Bearer {token('admin', 'operator', ttl=3600)}"}
    session = requests.Session()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= len(routes())
    for op in operations:
        _fuzz(op, schemathesis.GenerationMode.POSITIVE, live_gateway, headers, session, failures)
        _fuzz(op, schemathesis.GenerationMode.NEGATIVE, live_gateway, headers, session, failures)
    assert not failures, "\n".join(failures[:10])


def _fuzz(
    op: Any,
    mode: schemathesis.GenerationMode,
    base_url: str,
    headers: dict[str, str],
    session: requests.Session,
    failures: list[str],
) -> None:
    """A bounded run of one operation: no 5xx ever; valid requests get schema-valid answers."""
    positive = mode == schemathesis.GenerationMode.POSITIVE
    checks = [not_a_server_error, response_schema_conformance] if positive else [not_a_server_error]

    @hypothesis.settings(
        max_examples=5 if positive else 3,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=op.as_strategy(mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, session=session)
        try:
            case.validate_response(response, checks=checks)
        except (Exception, FailureGroup) as exc:
            failures.append(f"{case.method} {case.formatted_path} [{mode.value}]: {exc}"[:600])

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        assert not positive  # an operation without inputs has no invalid request to make
