"""`make run`: NATS (embedded unless NATS_URL is set), the KumoMTA simulator (unless
KUMOMTA_API_URL is set) and every kumowatch service, each as its own process.

Output lines are prefixed with the process name. Ctrl-C or SIGTERM stops every child it started
(SIGTERM, then SIGKILL after a grace period), so nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import secrets
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("KUMOWATCH_DATA_DIR", ROOT / ".data"))
BIN = Path(sys.executable).parent
GRACE = 25.0

SERVICES = (  # (name, module, port variable, default port)
    ("poller", "kumowatch_poller", "POLLER_PORT", 3002),
    ("alerter", "kumowatch_alerter", "ALERTER_PORT", 3003),
    ("notifier", "kumowatch_notifier", "NOTIFIER_PORT", 3004),
    ("gateway", "kumowatch_gateway", "PORT", 3001),
)
COLOURS = ("36", "33", "35", "32", "34", "31", "37")


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str | None = None
    proc: asyncio.subprocess.Process | None = None
    colour: str = "37"
    pump: asyncio.Task[None] | None = field(default=None, repr=False)


def has_main(module: str) -> bool:
    """True when ``module`` can run with ``python -m``."""
    try:
        return importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:
        return False


def dev_secret(name: str) -> str:
    """A development secret kept under .data/ so tokens survive restarts of `make run`."""
    path = DATA / name
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def admin_token(secret: str) -> str | None:
    try:
        import jwt
    except ImportError:
        return None
    now = int(time.time())
    claims = {
        "sub": "dev-admin",
        "username": "dev-admin",
        "roles": ["admin"],
        "iat": now,
        "exp": now + 24 * 3600,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def plan(env: dict[str, str]) -> tuple[list[Child], dict[str, str]]:
    """The processes to start and the facts to print."""
    children: list[Child] = []
    facts: dict[str, str] = {}
    if not env.get("NATS_URL"):
        port = env.get("KUMOWATCH_NATS_PORT", "4222")
        store = DATA / "nats"
        store.mkdir(parents=True, exist_ok=True)
        children.append(
            Child(
                "nats",
                [
                    str(BIN / "nats-server"),
                    "-js",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    port,
                    "-sd",
                    str(store),
                    "-n",
                    "kumowatch-dev",
                    "-l",
                    str(DATA / "nats.log"),
                ],
                env,
            )
        )
        env["NATS_URL"] = f"nats://127.0.0.1:{port}"
        facts["NATS log"] = str(DATA / "nats.log")
    facts["NATS"] = env["NATS_URL"]
    poller_port = int(env.get("POLLER_PORT", "3002"))
    if not env.get("KUMOMTA_API_URL") and has_main("kumowatch_sim"):
        sim_port = int(env.get("KUMOWATCH_SIM_PORT", "8000"))
        nodes = int(env.get("KUMOWATCH_SIM_NODES", "2"))
        argv = [
            sys.executable,
            "-m",
            "kumowatch_sim",
            "--nodes",
            str(nodes),
            "--port",
            str(sim_port),
            "--scenario",
            env.get("KUMOWATCH_SIM_SCENARIO", "steady"),
            "--rate",
            env.get("KUMOWATCH_SIM_RATE", "160"),
        ]
        if has_main("kumowatch_poller"):
            argv += [
                "--log-hook-url",
                f"http://127.0.0.1:{poller_port}/ingest/kumomta/v1",
                "--log-hook-mode",
                "batch",
            ]
            if env.get("KUMOMTA_INGEST_TOKEN"):
                argv += [
                    "--log-hook-header",
                    f"Authorization: Bearer {env['KUMOMTA_INGEST_TOKEN']}",
                ]
        children.append(Child("sim", argv, env))
        env["KUMOMTA_API_URL"] = ",".join(
            f"mta{i + 1}=http://127.0.0.1:{sim_port + i}" for i in range(nodes)
        )
        facts["KumoMTA simulator"] = env["KUMOMTA_API_URL"]
    if not env.get("JWT_SECRET") and not env.get("JWT_JWKS_URL"):
        env["JWT_SECRET"] = dev_secret("jwt-secret")
        env.setdefault("KUMOWATCH_ENV", "development")
    for name, module, var, default in SERVICES:
        if not has_main(module):
            continue
        svc_port = int(env.get(var, str(default)))
        children.append(
            Child(
                name,
                [sys.executable, "-m", module],
                env,
                ready_url=f"http://127.0.0.1:{svc_port}/readyz",
            )
        )
        facts[name] = f"http://127.0.0.1:{svc_port}"
    if "gateway" in facts:
        token = admin_token(env["JWT_SECRET"]) if env.get("JWT_SECRET") else None
        facts["Dashboard"] = facts["gateway"] + "/" + (f"#token={token}" if token else "")
    return children, facts


async def pump(child: Child) -> None:
    assert child.proc is not None
    assert child.proc.stdout is not None
    prefix = (
        f"\x1b[{child.colour}m{child.name:>8}\x1b[0m | "
        if sys.stdout.isatty()
        else f"{child.name:>8} | "
    )
    async for line in child.proc.stdout:
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def start(child: Child) -> None:
    child.proc = await asyncio.create_subprocess_exec(
        *child.argv,
        env=child.env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    child.pump = asyncio.create_task(pump(child))


def probe(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
            return bool(resp.status == 200)
    except Exception:
        return False


async def wait_ready(children: list[Child], stop: asyncio.Event, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    pending = [c for c in children if c.ready_url]
    while pending and time.monotonic() < deadline and not stop.is_set():
        results = await asyncio.gather(
            *(asyncio.to_thread(probe, c.ready_url or "") for c in pending)
        )
        pending = [c for c, ok in zip(pending, results, strict=True) if not ok]
        await asyncio.sleep(0.3)
    return not pending


async def shutdown(children: list[Child]) -> None:
    """Services first (they drain into NATS), then the simulator and NATS."""
    services = [c for c in children if c.name not in ("nats", "sim")]
    infra = [c for c in children if c.name in ("nats", "sim")]
    for group in (services, infra):
        for child in group:
            if child.proc is not None and child.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
        procs = [c.proc for c in group if c.proc is not None]
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), GRACE)
        except TimeoutError:
            for child in group:
                if child.proc is not None and child.proc.returncode is None:
                    print(f"run: {child.name} did not stop in {GRACE:.0f}s; killing", flush=True)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.proc.pid, signal.SIGKILL)
            await asyncio.gather(*(p.wait() for p in procs))
    for child in children:
        if child.pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(child.pump, 2)


async def main() -> int:
    DATA.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    env = dict(os.environ)
    children, facts = plan(env)
    for i, child in enumerate(children):
        child.colour = COLOURS[i % len(COLOURS)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        for child in children:
            await start(child)
            if child.name == "nats":
                await asyncio.sleep(0.3)
        if await wait_ready(children, stop):
            width = max(len(k) for k in facts)
            lines = ["", "kumowatch is running:"]
            lines += [f"  {k:<{width}}  {v}" for k, v in facts.items()]
            lines += ["  Ctrl-C stops everything.", ""]
            print("\n".join(lines), flush=True)
        elif not stop.is_set():
            print("run: some services are not ready after 60 s; see their output above", flush=True)
        waiters = {asyncio.create_task(c.proc.wait()): c for c in children if c.proc is not None}
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({stopper, *waiters}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in waiters and not stop.is_set():
                child = waiters[task]
                print(
                    f"run: {child.name} exited with code {task.result()}; stopping everything",
                    flush=True,
                )
                code = 1
        stopper.cancel()
        for task in waiters:
            task.cancel()
    finally:
        print("run: stopping", flush=True)
        await shutdown(children)
        print("run: stopped", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
