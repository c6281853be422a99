"""Humantime durations and RFC 3339 timestamps, in the forms KumoMTA writes and reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from kumowatch_sim.errors import BadRequestError

_UNITS: Final[dict[str, float]] = {
    "ns": 1e-9,
    "nsec": 1e-9,
    "us": 1e-6,
    "usec": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "msec": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "w": 604800.0,
    "week": 604800.0,
    "weeks": 604800.0,
    "M": 2_630_016.0,
    "month": 2_630_016.0,
    "months": 2_630_016.0,
    "y": 31_557_600.0,
    "year": 31_557_600.0,
    "years": 31_557_600.0,
}
_PART: Final = re.compile(r"\s*(\d+)\s*([A-Za-zµ]+)")


def parse_duration(text: str) -> float:
    """Parse a humantime string such as ``"5m"`` or ``"1h 30m"`` into seconds."""
    pos = 0
    total = 0.0
    seen = False
    stripped = text.strip()
    while pos < len(stripped):
        match = _PART.match(stripped, pos)
        if match is None:
            raise BadRequestError(f"invalid duration {text!r}: expected <number><unit>")
        unit = match.group(2)
        scale = _UNITS.get(unit)
        if scale is None:
            raise BadRequestError(f"invalid duration {text!r}: unknown unit {unit!r}")
        total += int(match.group(1)) * scale
        pos = match.end()
        seen = True
    if not seen:
        raise BadRequestError(f"invalid duration {text!r}: empty")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds the way humantime does, e.g. ``"4m 59s 812ms"``."""
    nanos = max(0, round(seconds * 1e9))
    if nanos == 0:
        return "0s"
    secs, frac = divmod(nanos, 1_000_000_000)
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    mins, secs = divmod(rem, 60)
    ms, rem_ns = divmod(frac, 1_000_000)
    us, ns = divmod(rem_ns, 1000)
    parts = [
        (days, "d"),
        (hours, "h"),
        (mins, "m"),
        (secs, "s"),
        (ms, "ms"),
        (us, "us"),
        (ns, "ns"),
    ]
    return " ".join(f"{value}{unit}" for value, unit in parts if value)


def rfc3339(ts: float, *, nanos: bool = True) -> str:
    """Format an epoch timestamp as RFC 3339 UTC, with nanoseconds like chrono does."""
    whole = int(ts)
    base = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if not nanos:
        return base + "Z"
    frac = round((ts - whole) * 1e9)
    frac = min(frac, 999_999_999)
    return f"{base}.{frac:09d}Z"


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp (any offset, optional fraction) into epoch seconds."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)", value)
    if match is None:
        raise BadRequestError(f"invalid RFC 3339 timestamp {text!r}")
    head, frac, tail = match.groups()
    try:
        parsed = datetime.fromisoformat(head + tail)
    except ValueError as exc:
        raise BadRequestError(f"invalid RFC 3339 timestamp {text!r}") from exc
    if parsed.tzinfo is None:
        raise BadRequestError(f"invalid RFC 3339 timestamp {text!r}: missing offset")
    return parsed.timestamp() + (float(frac) if frac else 0.0)
