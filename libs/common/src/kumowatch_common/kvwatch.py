"""Follow a KV bucket for the life of a service: re-watch after errors, report "loaded".

``watch_forever`` calls ``on_entry(entry)`` for every value and delete, ``on_loaded()`` once the
initial values have been delivered (nats-py marks that with ``None``), and ``on_idle()`` on each
quiet poll. A watch that fails or is lost (NATS restarted, a cluster failing over) is started
again after a short pause, so a consumer of a bucket never silently stops following it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)


async def watch_forever(
    kv: KeyValue,
    stop: asyncio.Event,
    on_entry: Callable[[KeyValue.Entry], None],
    *,
    what: str,
    keys: str = ">",
    meta_only: bool = False,
    on_loaded: Callable[[], None] | None = None,
    on_idle: Callable[[], None] | None = None,
    poll: float = 0.25,
    retry: float = 1.0,
) -> None:
    """Follow ``keys`` of ``kv`` until ``stop`` is set (see the module docstring)."""
    while not stop.is_set():
        try:
            watcher = await kv.watch(keys, meta_only=meta_only)
        except Exception as exc:
            log.warning(f"{what} watch failed, retrying", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry)
            continue
        try:
            while not stop.is_set():
                try:
                    entry = await watcher.updates(timeout=poll)  # type: ignore[no-untyped-call]
                except NatsTimeoutError:
                    if on_idle is not None:
                        on_idle()
                    continue
                if entry is None:
                    if on_loaded is not None:
                        on_loaded()
                    continue
                on_entry(entry)
        except Exception as exc:
            log.warning(f"{what} watch lost, restarting", extra={"error": repr(exc)})
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]
