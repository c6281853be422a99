"""The gateway's live page in a real browser (Debian's Chromium through Playwright) against real
processes, as `make run` starts them: nats-server, the KumoMTA simulator, the poller, the alerter,
the notifier and the gateway.

One walk through the page: sign in with the one-click fragment link, see nodes, live metrics and
queues, create a sensitive bounce rule, spike gmail bounces at the simulator, see the alert appear,
acknowledge it with a note, silence it, edit the rule's threshold and toggle it; then the same page
on a 390-px phone and with a viewer token (which is offered no actions). No console errors
anywhere. Screenshots of every view go to build/screenshots/ (ignored by git). Two more walks:
an expired token (and a pasted one, and one the gateway did not sign), and a gateway killed and
restarted under an open page.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import pytest

from kumowatch_common.testing import NatsServer, ServiceProcess, free_port
from kumowatch_common.testing import eventually as until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "screenshots"
SECRET = "page-test-secret-" + "0123456789abcdef" * 3
VIEWS = ("nodes", "throughput", "alerts", "queues", "messages", "rules")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) is not installed"
    ),
    pytest.mark.slow,
]


def token(*roles: str, sub: str = "page-admin", ttl: float = 3600) -> str:
    now = int(time.time())
    claims = {"sub": sub, "username": sub, "roles": list(roles), "iat": now, "exp": now + int(ttl)}
    return jwt.encode(claims, SECRET, algorithm="HS256")


# --------------------------------------------------------------------------- the processes


@dataclass
class Stack:
    url: str
    nodes: dict[str, str]
    prefix: str
    gateway: ServiceProcess
    procs: list[ServiceProcess] = field(default_factory=list)

    def tails(self) -> str:
        return "\n\n".join(f"== {p.module}\n{p.log_tail(15)}" for p in self.procs)


def _sim_urls(sim: ServiceProcess, count: int, timeout: float = 20.0) -> list[str]:
    """The node URLs the simulator prints on start (it was given --port 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"^mta\d+ (http://\S+)", sim.log_path.read_text(), re.M)
        if len(found) >= count:
            return found[:count]
        if sim.proc is not None and sim.proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"simulator did not start:\n{sim.log_tail()}")


@pytest.fixture(scope="module")
def stack(nats_server: NatsServer) -> Iterator[Stack]:
    prefix = f"page{uuid.uuid4().hex[:6]}"
    ports = {name: free_port() for name in ("poller", "alerter", "notifier", "gateway")}
    common = {"NATS_URL": nats_server.url, "LOG_LEVEL": "INFO"}
    sim = ServiceProcess(
        "kumowatch_sim",
        {},
        args=[
            "--nodes", "2", "--port", "0", "--scenario", "steady", "--rate", "40",
            "--seed", "7", "--tick", "0.25",
            "--log-hook-url", f"http://127.0.0.1:{ports['poller']}/ingest/kumomta/v1",
            "--log-hook-mode", "batch",
        ],
    )  # fmt: skip
    procs: list[ServiceProcess] = [sim.start()]
    try:
        urls = _sim_urls(sim, 2)
        nodes = {f"{prefix}-{i + 1}": u for i, u in enumerate(urls)}
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        services = [
            ServiceProcess(
                "kumowatch_poller",
                {
                    **common,
                    "POLLER_PORT": str(ports["poller"]),
                    "KUMOMTA_API_URL": ",".join(f"{n}={u}" for n, u in nodes.items()),
                    "KUMOMTA_POLL_INTERVAL": "1",
                    "KUMOMTA_STATE_INTERVAL": "5",
                },
                port=ports["poller"],
            ),
            ServiceProcess(
                "kumowatch_alerter",
                {**common, "ALERTER_PORT": str(ports["alerter"]), "ALERTER_EVAL_INTERVAL": "0.5"},
                port=ports["alerter"],
            ),
            ServiceProcess(
                "kumowatch_notifier", {**common, "NOTIFIER_PORT": str(ports["notifier"])},
                port=ports["notifier"],
            ),
            ServiceProcess(
                "kumowatch_gateway",
                {
                    **common,
                    "PORT": str(ports["gateway"]),
                    "JWT_SECRET": SECRET,
                    "KUMOWATCH_ENV": "development",
                },
                port=ports["gateway"],
            ),
        ]  # fmt: skip
        for svc in services:
            procs.append(svc.start())
        for svc in services:
            svc.wait_ready(timeout=30)
        yield Stack(gateway_url, nodes, prefix, services[-1], procs)
    finally:
        for proc in procs:  # SIGTERM to all first: they shut down in parallel
            if proc.proc is not None and proc.proc.poll() is None:
                proc.proc.terminate()
        for proc in reversed(procs):
            proc.stop(timeout=10)


# --------------------------------------------------------------------------- dev stand-in


# --------------------------------------------------------------------------- the browser


@dataclass
class Watch:
    """What a page said that it should not have, and the WebSocket frames it received."""

    errors: list[str] = field(default_factory=list)
    frames: Counter[str] = field(default_factory=Counter)

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("websocket", self._socket)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console.error: {msg.text}")

    def _socket(self, ws: Any) -> None:
        def received(payload: str | bytes) -> None:
            try:
                event = orjson.loads(payload).get("event")
            except (orjson.JSONDecodeError, AttributeError):
                return
            if isinstance(event, str):
                self.frames[event] += 1

        ws.on("framereceived", received)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def open_page(
    browser: Any, url: str, tok: str, viewport: dict[str, int]
) -> tuple[Any, Watch]:
    """A fresh tab (its own sessionStorage) opened with the one-click ``#token=`` link."""
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    await page.goto(f"{url}/#token={tok}")
    return page, watch


async def shoot(page: Any, tag: str) -> None:
    """The whole page and each view, cut from a full-page capture so the sticky top bar hides
    nothing. (No ``style=`` and no caret hiding: both inject inline CSS, which the page's CSP
    refuses with a console error.)"""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("() => window.scrollTo(0, 0)")
    await page.screenshot(path=str(SHOTS / f"{tag}-page.png"), full_page=True, caret="initial")
    for view in VIEWS:
        box = await page.evaluate(
            """(id) => { const r = document.getElementById(id).getBoundingClientRect();
                return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; }""",
            f"view-{view}",
        )
        await page.screenshot(
            path=str(SHOTS / f"{tag}-{view}.png"), full_page=True, clip=box, caret="initial"
        )


# --------------------------------------------------------------------------- REST and simulator


class Rest:
    def __init__(self, http: aiohttp.ClientSession, url: str, tok: str) -> None:
        self.http = http
        self.url = url
        self.headers = {"Authorization": f"Bearer {tok}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(
            method, self.url + path, json=body, headers=self.headers
        ) as resp:
            data = await resp.json(content_type=None)
            assert resp.status < 300, (method, path, resp.status, data)
            return data


def bounce_rule(rule_id: str, prefix: str) -> dict[str, Any]:
    """Sensitive on purpose: fires within seconds of a gmail bounce spike on our nodes only."""
    return {
        "id": rule_id,
        "name": f"Page test bounce spike {rule_id[-6:]}",
        "description": "created by tests/test_page_dashboard.py",
        "enabled": True,
        "severity": "critical",
        "condition": {"type": "bounce_rate", "operator": ">", "threshold": 10, "timeWindow": 15000},
        "scope": {"node": f"{prefix}-*"},
        "minVolume": 5,
        "for": 0,
        "channels": [],
    }


# --------------------------------------------------------------------------- the walk


async def test_dashboard_live_alert_acknowledge_and_rule_toggle(stack: Stack, browser: Any) -> None:
    admin = token("admin")
    node1, node2 = sorted(stack.nodes)
    rule_id = f"{stack.prefix}-bounce"
    close = None
    page_url = stack.url
    async with aiohttp.ClientSession() as http:
        rest = Rest(http, stack.url, admin)
        try:
            await _walk(stack, page_url, browser, http, rest, admin, node1, node2, rule_id)
        except BaseException:
            print(stack.tails())
            raise
        finally:
            for context in browser.contexts:
                await context.close()
            if close is not None:
                await close()
            async with http.delete(
                f"{stack.url}/api/alerts/rules/{rule_id}", headers=rest.headers
            ) as resp:
                assert resp.status in (200, 404)


async def _walk(
    stack: Stack,
    page_url: str,
    browser: Any,
    http: aiohttp.ClientSession,
    rest: Rest,
    admin: str,
    node1: str,
    node2: str,
    rule_id: str,
) -> None:
    page, watch = await open_page(browser, page_url, admin, DESKTOP)

    # Signed in from the fragment, which is gone from the address bar.
    await page.wait_for_selector("#dashboard:not([hidden])", timeout=10_000)
    assert "token" not in page.url
    assert await page.evaluate("sessionStorage.getItem('kumowatch.token')") == admin
    await page.wait_for_selector('#conn[data-state="live"]', timeout=10_000)
    assert await page.text_content("#who-role") == "admin"

    # Nodes with status and version.
    for node in (node1, node2):
        card = page.locator(f'article.node[data-node="{node}"][data-status="healthy"]')
        await card.wait_for(timeout=20_000)
        assert re.search(r"Version\s*\S+", await card.inner_text())

    # Live metrics: tiles fill in and the chart draws lines; values keep changing.
    delivered = page.locator('.tile[data-series="deliveredPerSec"] .value')
    await until(lambda: _is_positive(delivered), 20, "a delivered/s figure above zero")
    await page.wait_for_selector('#rate-chart path[data-series="deliveredPerSec"]', timeout=15_000)
    first = await page.inner_text(f'article.node[data-node="{node1}"]')
    await until(
        lambda: _changed(page.inner_text(f'article.node[data-node="{node1}"]'), first),
        15,
        "the node card to update live",
    )

    # Live queues for our nodes, narrowed by the node filter.
    await page.wait_for_selector(f'#queues-body tr[data-node="{node1}"]', timeout=20_000)
    await page.select_option("#queues-node", node2)
    rows = page.locator("#queues-body tr[data-node]")
    others = page.locator(f'#queues-body tr[data-node]:not([data-node="{node2}"])')
    await until(lambda: _only(rows, others), 10, f"the queue table to show only {node2}")
    await page.select_option("#queues-node", "")
    before = await _queue_frames(watch)
    await until(lambda: _more(watch, "queue:update", before), 15, "more queue:update frames")
    await page.wait_for_selector("#messages-list li.msg", timeout=20_000)
    assert watch.frames["metrics:update"] > 0

    await shoot(page, "desktop")

    # A sensitive rule, then a gmail bounce spike at both simulated nodes.
    await rest.call("POST", "/api/alerts/rules", bounce_rule(rule_id, stack.prefix))
    rule_row = page.locator(f'#rules-list li[data-rule-id="{rule_id}"]')
    await rule_row.wait_for(timeout=10_000)
    for url in stack.nodes.values():
        async with http.post(f"{url}/_sim/set", json={"bounce_ratio": {"gmail": 0.9}}) as resp:
            assert resp.status == 200, await resp.text()

    alert = page.locator(f'#alerts-list li[data-rule-id="{rule_id}"][data-status="firing"]').first
    await alert.wait_for(timeout=60_000)
    alert_id = await alert.get_attribute("data-alert-id")
    assert alert_id
    # Keep it in view whatever happens to it next (resolved alerts leave the "Active" list).
    await page.select_option("#alerts-filter", "all")
    assert "node=" in await alert.locator(".labels").inner_text()
    await page.wait_for_selector("#messages-list li.msg.bad", timeout=15_000)

    # Acknowledge with a note.
    note = f"Looking at gmail bounces <b>{stack.prefix}</b>"
    await alert.locator('button[data-action="acknowledge"]').click()
    await page.fill("#dialog-field-note", note)
    await page.click("#dialog-ok")
    await page.wait_for_selector("#dialog", state="hidden", timeout=10_000)
    acked = page.locator(f'#alerts-list li[data-alert-id="{alert_id}"] [data-field="ack-note"]')
    await acked.wait_for(timeout=10_000)
    assert note in await acked.inner_text()
    detail = await rest.call("GET", f"/api/alerts/{alert_id}")
    assert detail["alert"]["acknowledged"] is True
    assert detail["alert"]["ackNote"] == note
    assert detail["alert"]["acknowledgedBy"] == "page-admin"

    # Silence it for an hour: the silence matches the rule and the alert's labels.
    item = page.locator(f'#alerts-list li[data-alert-id="{alert_id}"]')
    await item.locator('button[data-action="silence"]').click()
    await page.click("#dialog-ok")
    await page.wait_for_selector("#silences-list li.silence", timeout=10_000)
    silences = await rest.call("GET", "/api/silences")
    ours = [s for s in silences if {"name": "ruleId", "value": rule_id, "op": "="} in s["matchers"]]
    assert len(ours) == 1
    assert 3_500_000 <= ours[0]["endsAt"] - ours[0]["startsAt"] <= 3_700_000

    # Edit the threshold, then switch the rule off.
    await rule_row.locator('input[data-field="threshold"]').fill("12.5")
    await rule_row.locator("button", has_text="Save").click()
    await until(
        lambda: _rule_field(rest, rule_id, lambda r: r["condition"]["threshold"] == 12.5),
        10,
        "the threshold edit to be stored",
    )
    toggle = rule_row.locator('input[data-action="toggle"]')
    assert await toggle.is_checked()
    await toggle.click()
    await until(
        lambda: _rule_field(rest, rule_id, lambda r: r["enabled"] is False),
        10,
        "the rule to be disabled",
    )
    await page.wait_for_selector(
        f'#rules-list li.disabled[data-rule-id="{rule_id}"]', timeout=10_000
    )
    await shoot(page, "desktop-after")
    assert not watch.errors, "\n".join(watch.errors)
    await page.context.close()

    # A phone: everything fits the width; the alert shows as acknowledged.
    phone, phone_watch = await open_page(browser, page_url, admin, PHONE)
    await phone.wait_for_selector('#conn[data-state="live"]', timeout=10_000)
    await phone.reload()  # still signed in: the token is in this tab's sessionStorage
    await phone.wait_for_selector('#conn[data-state="live"]', timeout=10_000)
    await phone.select_option("#alerts-filter", "all")
    await phone.locator(f'#alerts-list li[data-alert-id="{alert_id}"]').wait_for(timeout=10_000)
    await phone.wait_for_selector(f'#queues-body tr[data-node="{node1}"]', timeout=20_000)
    await phone.wait_for_selector('#rate-chart path[data-series="deliveredPerSec"]', timeout=15_000)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"horizontal scroll on a phone: {width}px"
    await shoot(phone, "phone")
    assert not phone_watch.errors, phone_watch.errors
    await phone.context.close()

    # A viewer reads everything and is offered no action.
    viewer_page, viewer_watch = await open_page(
        browser, page_url, token("viewer", sub="page-viewer"), DESKTOP
    )
    viewer_rule = f'#rules-list li[data-rule-id="{rule_id}"]'
    await viewer_page.wait_for_selector(viewer_rule, timeout=10_000)
    await viewer_page.select_option("#alerts-filter", "all")
    await viewer_page.locator(f'#alerts-list li[data-alert-id="{alert_id}"]').wait_for(
        timeout=10_000
    )
    assert await viewer_page.text_content("#who-role") == "viewer"
    assert await viewer_page.locator("#alerts-list button").count() == 0
    assert await viewer_page.locator("#silences-list button").count() == 0
    assert await viewer_page.locator('#rules-list input[data-field="threshold"]').count() == 0
    assert await viewer_page.locator("#rules-list input").count() == 0
    assert (
        await viewer_page.locator(f'{viewer_rule} [data-field="enabled"]').text_content()
        == "disabled"
    )
    await shoot(viewer_page, "viewer")
    assert not viewer_watch.errors, viewer_watch.errors
    await viewer_page.context.close()


async def _is_positive(locator: Any) -> bool:
    text = (await locator.inner_text()).replace(",", "")
    try:
        return float(text) > 0
    except ValueError:
        return False


async def _only(rows: Any, others: Any) -> bool:
    shown: int = await rows.count()
    foreign: int = await others.count()
    return shown > 0 and foreign == 0


async def _contains(text: Awaitable[str], part: str) -> bool:
    return part in await text


async def _changed(current: Awaitable[str], before: str) -> bool:
    return (await current) != before


async def _queue_frames(watch: Watch) -> int:
    return watch.frames["queue:update"]


async def _more(watch: Watch, event: str, before: int) -> bool:
    return watch.frames[event] > before


async def _rule_field(rest: Rest, rule_id: str, check: Callable[[dict[str, Any]], bool]) -> bool:
    return check(await rest.call("GET", f"/api/alerts/rules/{rule_id}"))


async def _page_url(stack: Stack) -> tuple[str, Callable[[], Awaitable[None]] | None]:
    return stack.url, None


async def test_expired_token_asks_for_a_new_one(stack: Stack, browser: Any) -> None:
    url, close = await _page_url(stack)
    try:
        short = token("viewer", sub="page-short", ttl=5)
        page, watch = await open_page(browser, url, short, DESKTOP)
        await page.wait_for_selector("#dashboard:not([hidden])", timeout=10_000)
        await page.wait_for_selector("#signin:not([hidden])", timeout=20_000)
        assert "Your session expired" in await page.inner_text("#signin-error")
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "signin-expired.png"), caret="initial")
        assert await page.evaluate("sessionStorage.getItem('kumowatch.token')") is None
        # Pasting: nonsense is refused here, a fresh token signs in again.
        await page.fill("#token-input", "not a token")
        await page.click("#signin-form button[type=submit]")
        assert "does not look like a JWT" in await page.inner_text("#signin-error")
        fresh = token("operator", sub="page-pasted")
        await page.fill("#token-input", fresh)
        await page.click("#signin-form button[type=submit]")
        await page.wait_for_selector('#conn[data-state="live"]', timeout=10_000)
        assert await page.text_content("#who-role") == "operator"
        assert await page.evaluate("sessionStorage.getItem('kumowatch.token')") == fresh
        assert not watch.errors, "\n".join(watch.errors)

        # A token the gateway did not sign: back to sign-in, saying it was refused.
        await page.click("#sign-out")
        forged = jwt.encode(
            {"sub": "mallory", "roles": ["admin"], "exp": int(time.time()) + 600},
            "not-the-gateway-secret-" + "x" * 20,
            algorithm="HS256",
        )
        await page.fill("#token-input", forged)
        await page.click("#signin-form button[type=submit]")
        await page.wait_for_selector("#signin:not([hidden])", timeout=10_000)
        await until(
            lambda: _contains(page.inner_text("#signin-error"), "refused this token"),
            10,
            "the refusal message",
        )
        # The browser itself notes each 401 answer in the console; nothing else may appear.
        unexpected = [e for e in watch.errors if "status of 401" not in e]
        assert not unexpected, "\n".join(unexpected)
    finally:
        for context in browser.contexts:
            await context.close()
        if close is not None:
            await close()


async def test_lost_gateway_shows_reconnecting_and_recovers(stack: Stack, browser: Any) -> None:
    url, close = await _page_url(stack)
    try:
        page, watch = await open_page(browser, url, token("viewer", sub="page-reconnect"), DESKTOP)
        await page.wait_for_selector('#conn[data-state="live"]', timeout=10_000)
        # Requests in flight when the gateway dies would fail (and say so in the console).
        await page.wait_for_selector('#dashboard[data-loaded="true"]', timeout=10_000)
        stack.gateway.kill()
        await page.wait_for_selector(
            '#conn[data-state="reconnecting"], #conn[data-state="lost"]', timeout=10_000
        )
        assert "econnecting" in await page.inner_text("#conn-text")
        stack.gateway.start()
        await asyncio.to_thread(stack.gateway.wait_ready, 30)
        await page.wait_for_selector('#conn[data-state="live"]', timeout=40_000)
        await page.wait_for_selector("#banner[hidden]", state="attached", timeout=5_000)
        # Only the browser's own note of each refused connection attempt is expected.
        unexpected = [e for e in watch.errors if "WebSocket connection to" not in e]
        assert not unexpected, "\n".join(unexpected)
    finally:
        for context in browser.contexts:
            await context.close()
        if close is not None:
            await close()
