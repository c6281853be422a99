"""A tolerant parser for KumoMTA's ``GET /metrics.json``.

KumoMTA assembles this JSON by hand: label values are not escaped and the published sample has a
trailing comma. Strict JSON is tried first (orjson); on failure the text is repaired (inner quotes
escaped, trailing commas dropped, ``NaN``/``Infinity`` quoted) and parsed again. Shapes, per
family ``{"type", "help"?, "value"}``: a number (no labels), ``{label: {value: n}}`` (one label),
``[{labels..., "@": n}]`` (two or more), a histogram object, or ``null`` (no series yet).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any, Final

import orjson

from kumowatch_poller.errors import MetricsParseError
from kumowatch_poller.metricset import MetricSet, label_key

_QUOTE_RE: Final = re.compile(r'(?<!\\)"')
_LONE_BACKSLASH_RE: Final = re.compile(r'\\(?![\\"/bfnrtu])')
_TRAILING_COMMA_RE: Final = re.compile(r",(\s*[}\]])")
_NONFINITE_RE: Final = re.compile(r"(?<![\w.\"])([+-]?(?:NaN|nan|Infinity|inf|Inf))(?![\w\"])")
_CLOSERS: Final = frozenset(":,}]")
_HISTOGRAM_KEYS: Final = ("count", "sum")


def parse_json(body: str | bytes, wanted: Collection[str] | None = None) -> MetricSet:
    """Parse a ``/metrics.json`` body; ``wanted=None`` keeps every family."""
    doc = _load(body)
    if not isinstance(doc, dict):
        raise MetricsParseError("metrics.json is not an object")
    out = MetricSet()
    for name, entry in doc.items():
        if wanted is not None and name not in wanted:
            out.skipped += 1
            continue
        if not isinstance(entry, dict) or "value" not in entry:
            out.garbage += 1
            continue
        _family(out, name, entry.get("type"), entry["value"])
    return out


def _load(body: str | bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return orjson.loads(repair(text))
    except orjson.JSONDecodeError as exc:
        raise MetricsParseError(f"metrics.json is not JSON, even repaired: {exc}") from None


def repair(text: str) -> str:
    """Make KumoMTA's hand-assembled JSON strict: escape stray quotes, drop trailing commas."""
    out: list[str] = []
    pos = 0
    quotes = [m.start() for m in _QUOTE_RE.finditer(text)]
    n = len(quotes)
    i = 0
    while i < n:
        opening = quotes[i]
        out.append(_fix_outside(text[pos:opening]))
        # The closing quote is the first one followed by a structural character.
        j = i + 1
        while j < n and not _closes(text, quotes[j]):
            j += 1
        if j >= n:
            pos = opening
            break
        closing = quotes[j]
        inner = text[opening + 1 : closing]
        inner = _LONE_BACKSLASH_RE.sub(r"\\\\", inner)
        out.append('"' + _QUOTE_RE.sub('\\"', inner).replace("\n", "\\n") + '"')
        pos = closing + 1
        i = j + 1
    out.append(_fix_outside(text[pos:]))
    return "".join(out)


def _closes(text: str, quote: int) -> bool:
    k = quote + 1
    length = len(text)
    while k < length and text[k] in " \t\r\n":
        k += 1
    return k >= length or text[k] in _CLOSERS


def _fix_outside(segment: str) -> str:
    segment = _TRAILING_COMMA_RE.sub(r"\1", segment)
    return _NONFINITE_RE.sub(r'"\1"', segment)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _family(out: MetricSet, name: str, kind: Any, value: Any) -> None:
    if value is None:
        return
    series: dict[str, float] = {}
    if kind == "histogram" or (isinstance(value, dict) and "bucket" in value):
        _histogram(out, name, value)
        return
    num = _number(value)
    if num is not None:
        series[""] = num
    elif isinstance(value, dict):
        for by_value in value.values():
            if not isinstance(by_value, dict):
                out.garbage += 1
                continue
            for label_value, raw in by_value.items():
                num = _number(raw)
                if num is None:
                    out.garbage += 1
                else:
                    series[str(label_value)] = num
    elif isinstance(value, list):
        for item in value:
            num = _number(item.get("@")) if isinstance(item, dict) else None
            if num is None:
                out.garbage += 1
                continue
            pairs = [(str(k), str(v)) for k, v in item.items() if k != "@"]
            series[label_key(pairs)] = num
    else:
        out.garbage += 1
        return
    if series:
        out.families.setdefault(name, {}).update(series)
        out.series += len(series)


def _histogram(out: MetricSet, name: str, value: Any) -> None:
    if not isinstance(value, dict):
        out.garbage += 1
        return
    for part in _HISTOGRAM_KEYS:
        num = _number(value.get(part))
        if num is not None and not math.isnan(num):
            out.families.setdefault(f"{name}_{part}", {})[""] = num
            out.series += 1
