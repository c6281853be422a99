"""The README quick start: `make run` comes up, provisions NATS, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest

from kumowatch_common import streams
from kumowatch_common.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


@pytest.mark.slow
def test_make_run_comes_up_with_streams_and_ctrl_c_leaves_no_process(tmp_path: Path) -> None:
    ports = {
        name: str(free_port())
        for name in ("KUMOWATCH_NATS_PORT", "PORT", "POLLER_PORT", "ALERTER_PORT", "NOTIFIER_PORT")
    }
    sim = free_port()
    env = {
        **os.environ,
        **ports,
        "KUMOWATCH_DATA_DIR": str(tmp_path),
        "KUMOWATCH_SIM_PORT": str(sim),
        "KUMOWATCH_SIM_NODES": "1",
    }
    env.pop("NATS_URL", None)
    env.pop("KUMOMTA_API_URL", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "kumowatch is running" in line:
                break
            assert time.monotonic() - started < 60, "".join(lines[-30:])
        else:
            pytest.fail("run.py ended early:\n" + "".join(lines[-30:]))
        assert time.monotonic() - started < 30, "not up within 30 s"
        children = _children(proc.pid)
        assert children

        async def check_streams() -> set[str]:
            nc = await nats.connect(f"nats://127.0.0.1:{ports['KUMOWATCH_NATS_PORT']}")
            names = {s.config.name for s in await nc.jetstream().streams_info()}
            await nc.close()
            return names

        names = asyncio.run(check_streams())
        for stream in (
            streams.STREAM_SNAPSHOTS,
            streams.STREAM_EVENTS,
            streams.STREAM_ALERTS,
            streams.STREAM_NOTIFICATIONS,
        ):
            assert stream in names
        assert f"KV_{streams.BUCKET_RULES}" in names
        proc.send_signal(signal.SIGINT)
        assert proc.wait(40) == 0
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in children if _alive(p)]
    finally:
        # Never leave the children behind, even when an assertion failed early: stop run.py the
        # way a user does, and kill whatever it started if it does not.
        leftovers = _children(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in leftovers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
