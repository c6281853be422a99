"""Rules in the ``rules`` KV bucket: seeded once, watched, applied live.

Key = rule id, value = ``AlertRule.to_bytes()``. The first alerter to start on a fresh bucket puts
the default rules and the ``_seeded`` marker; after that the bucket is the user's: edits and
deletions survive restarts. Values are validated with the same ``parse_rule`` the gateway uses; an
invalid stored value is skipped (logged once per revision, counted) and the rule's last valid
version, if any, stays in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

import orjson
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from prometheus_client import CollectorRegistry, Counter, Gauge

from kumowatch_alerter.errors import RuleStoreError
from kumowatch_common import rules as common_rules
from kumowatch_common.events import AlertRule

log = logging.getLogger(__name__)

SEEDED_KEY: Final = "_seeded"

OnRules = Callable[[list[AlertRule]], None]


class RuleStore:
    """The live rule set, mirrored from the bucket."""

    def __init__(
        self,
        kv: KeyValue,
        max_window_ms: int,
        on_rules: OnRules,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.kv = kv
        self.max_window_ms = max_window_ms
        self.on_rules = on_rules
        self.rules: dict[str, AlertRule] = {}
        self.loaded = asyncio.Event()
        self._rejected: set[tuple[str, int]] = set()
        self.invalid_total = Counter(
            "kumowatch_alerter_rules_invalid_total",
            "stored rule values skipped because they failed validation",
            registry=registry,
        )
        self.rules_gauge = Gauge(
            "kumowatch_alerter_rules", "rules in effect (enabled or not)", registry=registry
        )

    async def seed(self) -> bool:
        """Put the default rules if this bucket was never seeded; True if this call seeded."""
        try:
            await self.kv.get(SEEDED_KEY)
            return False
        except KeyNotFoundError:
            pass
        except Exception as exc:
            raise RuleStoreError(f"reading the rules bucket failed: {exc!r}") from exc
        for rule in common_rules.default_rules():
            # create, not put: a concurrent replica's (or a user's) value wins.
            with contextlib.suppress(Exception):
                await self.kv.create(rule.id, rule.to_bytes())
        await self.kv.put(SEEDED_KEY, b"1")
        log.info("default rules seeded", extra={"rules": len(common_rules.default_rules())})
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Seed, load and watch until ``stop``; ``on_rules`` gets every new rule set."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self.seed()
                await self._watch(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("rule watch failed, retrying", extra={"error": repr(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(5.0, delay * 2)

    async def _watch(self, stop: asyncio.Event) -> None:
        watcher = await self.kv.watchall()
        try:
            initial = not self.loaded.is_set()
            while not stop.is_set():
                try:
                    entry = await watcher.updates(timeout=1.0)  # type: ignore[no-untyped-call]
                except NatsTimeoutError:
                    continue
                if entry is None:  # end of the initial values
                    initial = False
                    self._publish()
                    continue
                if not isinstance(entry, KeyValue.Entry):
                    return  # the watcher was stopped
                changed = self._apply(entry)
                if changed and not initial:
                    self._publish()
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]

    def _apply(self, entry: KeyValue.Entry) -> bool:
        key = entry.key
        if key.startswith("_"):
            return False
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            return self.rules.pop(key, None) is not None
        rule, errors = self.parse(entry.value)
        if rule is None or rule.id != key:
            marker = (key, entry.revision or 0)
            if marker not in self._rejected:
                self._rejected.add(marker)
                self.invalid_total.inc()
                detail = [f"{e.field}: {e.message}" for e in errors] or ["id differs from key"]
                log.error(
                    "stored rule is invalid; skipped",
                    extra={"rule": key, "revision": entry.revision, "errors": detail},
                )
            return False
        if self.rules.get(key) == rule:
            return False
        self.rules[key] = rule
        return True

    def parse(self, value: bytes) -> tuple[AlertRule | None, list[common_rules.FieldError]]:
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            return None, [common_rules.FieldError("(body)", f"not JSON: {exc}")]
        return common_rules.parse_rule(data, self.max_window_ms)

    def _publish(self) -> None:
        self.rules_gauge.set(len(self.rules))
        self.on_rules(list(self.rules.values()))
        if not self.loaded.is_set():
            log.info("rules loaded", extra={"rules": len(self.rules)})
            self.loaded.set()
