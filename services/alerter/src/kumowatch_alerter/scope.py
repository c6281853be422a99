"""Scope globs (fnmatch, case-insensitive) and KumoMTA queue-name parsing.

A scope field restricts the label of the same name. A series that does not carry a label its
rule's scope names is out of scope: a node-level bounce rate cannot honour a ``domain`` scope, so
it matches nothing rather than silently ignoring the restriction.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from kumowatch_common.events import Scope

SERIES_FIELDS: Final = ("queue", "tenant", "domain", "provider")


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """An fnmatch glob as a compiled, case-insensitive regular expression."""
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ScopeMatcher:
    """A rule's scope, compiled."""

    node: re.Pattern[str] | None
    fields: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def of(cls, scope: Scope) -> ScopeMatcher:
        node = compile_glob(scope.node) if scope.node else None
        fields = tuple(
            (name, compile_glob(value))
            for name in SERIES_FIELDS
            if (value := getattr(scope, name)) is not None
        )
        return cls(node, fields)

    @property
    def restricts_series(self) -> bool:
        """True when the scope names a queue, tenant, domain or provider."""
        return bool(self.fields)

    def node_ok(self, node: str) -> bool:
        return self.node is None or self.node.match(node) is not None

    def labels_ok(self, labels: Mapping[str, str | None]) -> bool:
        """Strict: every scoped label must be present and match."""
        for name, pattern in self.fields:
            value = labels.get(name)
            if not value or pattern.match(value) is None:
                return False
        return True

    def queue_ok(self, name: str, kind: str, provider: str | None) -> bool:
        """:meth:`labels_ok` for a queue, without building its labels."""
        parts = None
        for field, pattern in self.fields:
            if field == "queue":
                value: str | None = name
            elif field == "provider":
                value = provider
            elif kind != "scheduled":
                return False
            else:
                parts = parts or parse_scheduled(name)
                value = parts.tenant if field == "tenant" else parts.domain
            if not value or pattern.match(value) is None:
                return False
        return True

    def only(self, allowed: frozenset[str]) -> bool:
        """True when the scope restricts nothing outside ``allowed``."""
        return all(name in allowed for name, _ in self.fields)


@dataclass(frozen=True, slots=True)
class QueueName:
    """Parts of a scheduled queue name ``campaign:tenant@domain!routing``."""

    campaign: str | None
    tenant: str | None
    domain: str | None
    routing: str | None


@lru_cache(maxsize=262_144)
def parse_scheduled(name: str) -> QueueName:
    """Split a scheduled queue name as KumoMTA does (first ``@``; ``:`` before it)."""
    at = name.find("@")
    if at < 0:
        head, rest = None, name
    else:
        head, rest = name[:at], name[at + 1 :]
    campaign = tenant = None
    if head is not None:
        colon = head.find(":")
        if colon >= 0:
            campaign, tenant = head[:colon] or None, head[colon + 1 :] or None
        else:
            tenant = head or None
    domain, _, routing = rest.partition("!")
    return QueueName(campaign, tenant, domain or None, routing or None)


def parse_ready_site(name: str) -> str | None:
    """The site of a ready queue name ``source->site@protocol`` (or of a record's ``site``)."""
    arrow = name.find("->")
    body = name[arrow + 2 :] if arrow >= 0 else name
    site, sep, _ = body.rpartition("@")
    return (site if sep else body) or None


def queue_labels(name: str, kind: str, provider: str | None = None) -> dict[str, str]:
    """Labels of one queue series (only the non-empty ones)."""
    labels: dict[str, str] = {"queue": name, "kind": kind}
    if kind == "scheduled":
        parts = parse_scheduled(name)
        for key, value in (
            ("campaign", parts.campaign),
            ("tenant", parts.tenant),
            ("domain", parts.domain),
        ):
            if value:
                labels[key] = value
    else:
        site = parse_ready_site(name)
        if site:
            labels["site"] = site
    if provider:
        labels["provider"] = provider
    return labels
