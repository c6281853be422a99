from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from kumowatch_common.testing import NatsServer

HOLDER = Path(__file__).with_name("lease_holder.py")
ITEMS = ["mta1", "mta2", "mta3", "mta4"]


def _owned(path: Path) -> list[str]:
    try:
        return list(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def _wait(predicate: object, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_two_processes_own_each_item_once_and_a_killed_holders_items_move(
    fresh_nats: NatsServer, tmp_path: Path
) -> None:
    ttl = 2.0
    files = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(HOLDER), fresh_nats.url, name, str(ttl), str(f), *ITEMS]
        )
        for name, f in zip(("holder-a", "holder-b"), files, strict=True)
    ]
    try:

        def split_evenly() -> bool:
            a, b = _owned(files[0]), _owned(files[1])
            return sorted(a + b) == ITEMS and len(a) == 2 and len(b) == 2

        _wait(split_evenly, 20)
        victim_items = _owned(files[0])
        procs[0].kill()
        procs[0].wait()
        moved_after = _wait(lambda: sorted(_owned(files[1])) == ITEMS, 3 * ttl + 2)
        assert set(victim_items) <= set(_owned(files[1]))
        # The takeover happens within one TTL plus one renewal round.
        assert moved_after < ttl + ttl / 3 + 1.5
    finally:
        for p in procs:
            p.kill()
            p.wait()
