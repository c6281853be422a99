"""Share named work items (e.g. one per KumoMTA node) among N processes through a KV bucket.

Each item is a key ``<group>.<item>`` holding a :class:`~kumowatch_common.events.Lease`. A holder
renews its keys with compare-and-set every ``ttl/3``; a key whose ``expiresAt`` has passed (its
holder died) is taken over by compare-and-set, so a dead holder loses its items within one TTL.
The bucket's own TTL also removes abandoned keys. Members announce themselves under
``<group>._members.<id>`` so that each takes about its fair share, ``ceil(items / members)``,
and releases extras when a new member arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from kumowatch_common.clock import Clock, SystemClock
from kumowatch_common.events import Lease
from kumowatch_common.subjects import validate_token

log = logging.getLogger(__name__)

OnChange = Callable[[frozenset[str]], Awaitable[None] | None]


class LeaseManager:
    """Acquire, renew and release leases on items for one holder in one group."""

    def __init__(
        self,
        kv: KeyValue,
        group: str,
        holder: str,
        ttl: float,
        items: Callable[[], Iterable[str]],
        on_change: OnChange | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.kv = kv
        self.group = validate_token(group, "lease group")
        self.holder = holder
        self.ttl = ttl
        self.items = items
        self.on_change = on_change
        self.clock = clock or SystemClock()
        self._owned: dict[str, int] = {}  # item -> revision
        self._healthy = False
        self._last_ok = float("-inf")
        self._notified: frozenset[str] = frozenset()

    @property
    def owned(self) -> frozenset[str]:
        """Items this holder currently owns."""
        return frozenset(self._owned)

    @property
    def healthy(self) -> bool:
        """False when the last round could not reach the bucket."""
        return self._healthy

    def _key(self, item: str) -> str:
        return f"{self.group}.{validate_token(item, 'lease item')}"

    def _member_key(self) -> str:
        return f"{self.group}._members.{self.holder}"

    def _lease(self) -> bytes:
        now = self.clock.now()
        return Lease(holder=self.holder, expiresAt=now + self.ttl, acquiredAt=now).to_bytes()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep leases until ``stop`` is set, then release them."""
        interval = max(0.2, self.ttl / 3)
        try:
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            await self.release_all()

    async def tick(self) -> None:
        """One round: announce membership, renew owned items, take free ones up to the share."""
        try:
            await self.kv.put(self._member_key(), self._lease())
            members = await self._live_members()
            wanted = sorted(set(self.items()))
            share = math.ceil(len(wanted) / max(1, members)) if wanted else 0
            for item in list(self._owned):
                if item not in wanted:
                    await self._release(item)
            for item in list(self._owned):
                await self._renew(item)
            # Over the share (a new member joined): give the extras back.
            while len(self._owned) > share:
                await self._release(sorted(self._owned)[-1])
            for item in wanted:
                if len(self._owned) >= share:
                    break
                if item not in self._owned:
                    await self._try_acquire(item)
            self._healthy = True
            self._last_ok = self.clock.monotonic()
        except Exception as exc:
            self._healthy = False
            log.warning("lease round failed", extra={"group": self.group, "error": repr(exc)})
            # Without the bucket we cannot prove ownership past expiry: drop what has expired.
            self._drop_expired_locally()
        await self._notify()

    async def _notify(self) -> None:
        # Tell the owner about every change; a callback that fails is called again next round
        # (its work is not done), instead of ending the lease loop.
        after = self.owned
        if after == self._notified or self.on_change is None:
            self._notified = after
            return
        try:
            result = self.on_change(after)
            if result is not None:
                await result
        except Exception as exc:
            log.warning(
                "lease change not applied, retrying next round",
                extra={"group": self.group, "error": repr(exc)},
            )
            return
        self._notified = after

    async def _live_members(self) -> int:
        # Subject counts from the bucket's stream: cheaper and sturdier than kv.keys(), which
        # builds a watcher per call.
        prefix = f"{self.group}._members."
        info = await self.kv._js.stream_info(
            f"KV_{self.kv._name}", subjects_filter=f"$KV.{self.kv._name}.{prefix}*"
        )
        now = self.clock.now()
        count = 0
        for subject in info.state.subjects or {}:
            key = subject.split(".", 2)[2]
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                continue
            if entry.value and Lease.from_bytes(entry.value).expiresAt > now:
                count += 1
        return max(1, count)

    async def _renew(self, item: str) -> None:
        try:
            rev = await self.kv.update(self._key(item), self._lease(), last=self._owned[item])
            self._owned[item] = rev
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            log.warning("lease lost", extra={"group": self.group, "item": item})
            self._owned.pop(item, None)
        except Exception as exc:
            if "wrong last sequence" in str(exc).lower():
                self._owned.pop(item, None)
                log.warning("lease lost", extra={"group": self.group, "item": item})
            else:
                raise

    async def _try_acquire(self, item: str) -> None:
        key = self._key(item)
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            entry = None
        try:
            if entry is None or not entry.value:
                rev = await self.kv.create(key, self._lease())
            else:
                current = Lease.from_bytes(entry.value)
                if current.holder != self.holder and current.expiresAt > self.clock.now():
                    return
                assert entry.revision is not None
                rev = await self.kv.update(key, self._lease(), last=entry.revision)
        except Exception as exc:
            if _is_conflict(exc):
                return
            raise
        self._owned[item] = rev
        log.info("lease acquired", extra={"group": self.group, "item": item, "holder": self.holder})

    async def _release(self, item: str) -> None:
        rev = self._owned.pop(item, None)
        if rev is None:
            return
        with contextlib.suppress(Exception):
            await self.kv.delete(self._key(item), last=rev)
        log.info("lease released", extra={"group": self.group, "item": item})

    async def release_all(self) -> None:
        """Give back every item (on shutdown) so another holder takes over at once."""
        for item in list(self._owned):
            await self._release(item)
        with contextlib.suppress(Exception):
            await self.kv.delete(self._member_key())
        await self._notify()

    def _drop_expired_locally(self) -> None:
        # Past our last successful renewal + ttl another holder may own the item: stop using it.
        if self.clock.monotonic() - self._last_ok >= self.ttl * 0.9:
            self._owned.clear()


def _is_conflict(exc: Exception) -> bool:
    text = str(exc).lower()
    return (
        isinstance(exc, KeyWrongLastSequenceError)
        or "wrong last sequence" in text
        or ("key exists" in text)
    )
