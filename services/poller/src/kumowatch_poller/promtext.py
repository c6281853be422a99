"""A fast, tolerant parser for KumoMTA's Prometheus text exposition (``GET /metrics``).

Built for bodies with a million series: it splits lines, reads the metric name, and parses labels
and the value only for wanted families. The common ``name{label="value"} 12`` form takes a fast
path of a few string operations; anything else (several labels, escaped or unescaped quotes,
trailing commas) takes a tolerant slow path. ``NaN``, ``+Inf`` and ``-Inf`` are values; a line
that cannot be read is counted as garbage and skipped, never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final

from kumowatch_poller.metricset import MetricSet, label_key

_NAME_RE: Final = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*\Z")
# Start of a label inside the braces: at the beginning, or after the previous value's quote.
_LABEL_START_RE: Final = re.compile(r'(?:^|"\s*,\s*)([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"')
_ESCAPE_RE: Final = re.compile(r"\\(.)", re.DOTALL)


def parse_text(body: str | bytes, wanted: Collection[str] | None = None) -> MetricSet:
    """Parse a ``/metrics`` body; ``wanted=None`` parses every family."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    out = MetricSet()
    families = out.families
    valid_names: set[str] = set()
    series = skipped = garbage = 0
    for line in text.split("\n"):
        if not line or line[0] == "#":
            continue
        brace = line.find("{")
        if brace < 0:
            space = line.find(" ")
            if space <= 0:
                if line.strip() and not line.lstrip().startswith("#"):
                    garbage += 1
                continue
            name = line[:space]
        else:
            name = line[:brace]
        if wanted is not None and name not in wanted:
            if name in valid_names or _valid_name(name, valid_names):
                skipped += 1
            else:
                garbage += 1
            continue
        if wanted is None and name not in valid_names and not _valid_name(name, valid_names):
            garbage += 1
            continue
        if brace < 0:
            key = ""
            rest = line[space:]
        else:
            close = line.rfind("}")
            if close < brace:
                garbage += 1
                continue
            inner = line[brace + 1 : close]
            rest = line[close + 1 :]
            eq = inner.find('="')
            if eq > 0 and inner[-1] == '"' and '",' not in inner:
                key = inner[eq + 2 : -1]
                if "\\" in key:
                    key = _unescape(key)
            else:
                parsed = _labels_slow(inner)
                if parsed is None:
                    garbage += 1
                    continue
                key = parsed
        try:
            value = float(rest)
        except ValueError:
            parts = rest.split()
            try:
                value = float(parts[0]) if 1 <= len(parts) <= 2 else _bad()
            except ValueError:
                garbage += 1
                continue
        fam = families.get(name)
        if fam is None:
            fam = families[name] = {}
        fam[key] = value
        series += 1
    out.series, out.skipped, out.garbage = series, skipped, garbage
    return out


def _valid_name(name: str, cache: set[str]) -> bool:
    if _NAME_RE.match(name):
        cache.add(name)
        return True
    return False


def _bad() -> float:
    raise ValueError("not a sample")


def _unescape(value: str) -> str:
    return _ESCAPE_RE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _labels_slow(inner: str) -> str | None:
    """Series key of a label set the fast path could not read, or None if it is not one."""
    stripped = inner.strip().rstrip(",").strip()
    if not stripped:
        return ""
    starts = list(_LABEL_START_RE.finditer(stripped))
    if not starts or starts[0].start() != 0:
        return None
    end = stripped.rfind('"')
    pairs: list[tuple[str, str]] = []
    for i, match in enumerate(starts):
        # The next label's match begins at the closing quote of this value.
        stop = starts[i + 1].start() if i + 1 < len(starts) else end
        if stop < match.end():
            return None
        value = stripped[match.end() : stop]
        pairs.append((match.group(1), _unescape(value) if "\\" in value else value))
    return label_key(pairs)
