"""A fast, tolerant parser for KumoMTA's Prometheus text exposition (``GET /metrics``).

Built for bodies with a million series. The common forms, ``name 12`` and
``name{label="value"} 12`` (almost every KumoMTA line), are split by one regular expression in C;
only wanted families are kept. Anything else (several labels, escaped or unescaped quotes,
trailing commas) takes a tolerant per-line path. ``NaN``, ``+Inf`` and ``-Inf`` are values; a
line that cannot be read is counted as garbage and skipped, never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Final

from kumowatch_poller.metricset import MetricSet, label_key

_CHUNK: Final = 4 * 1024 * 1024
# Every line matches one branch: a comment or blank (no groups), the common sample forms
# ``name value`` and ``name{label="value"} value [timestamp]`` (groups 1-3), or anything else
# (group 4), which the tolerant per-line parser reads.
_LINE_RE: Final = re.compile(
    r"^(?:#[^\n]*|[ \t\r]*"
    r'|([A-Za-z_:][A-Za-z0-9_:]*)(?:\{[A-Za-z_][A-Za-z0-9_]*="([^"\\\n]*)"\})?'
    r"[ \t]+([^ \t\r\n]+)(?:[ \t]+-?[0-9]+)?[ \t\r]*"
    r"|([^\n]*))$",
    re.M,
)
_NAME_RE: Final = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*\Z")
# Start of a label inside the braces: at the beginning, or after the previous value's quote.
_LABEL_START_RE: Final = re.compile(r'(?:^|"\s*,\s*)([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"')
_ESCAPE_RE: Final = re.compile(r"\\(.)", re.DOTALL)


def parse_text(body: str | bytes, wanted: Collection[str] | None = None) -> MetricSet:
    """Parse a ``/metrics`` body; ``wanted=None`` parses every family.

    One regular expression (run in C, a few MB at a time) splits the common line forms into name,
    label value and value; only the remaining lines go through the tolerant per-line parser.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    out = MetricSet()
    families = out.families
    series = skipped = garbage = 0
    odd: list[str] = []
    for chunk in _chunks(text):
        for name, label, value_text, other in _LINE_RE.findall(chunk):
            if not name:
                if other:
                    odd.append(other)
                continue
            if wanted is not None and name not in wanted:
                skipped += 1
                continue
            try:
                value = float(value_text)
            except ValueError:
                garbage += 1
                continue
            fam = families.get(name)
            if fam is None:
                fam = families[name] = {}
            fam[label] = value
            series += 1
    out.series, out.skipped, out.garbage = series, skipped, garbage
    if odd:
        _parse_lines(odd, out, wanted)
    return out


def _chunks(text: str) -> Iterator[str]:
    pos, size = 0, len(text)
    while pos < size:
        end = text.find("\n", pos + _CHUNK)
        if end < 0:
            end = size
        yield text[pos:end]
        pos = end + 1


def _parse_lines(lines: list[str], out: MetricSet, wanted: Collection[str] | None) -> None:
    """The tolerant path: several labels, escapes, stray quotes, garbage."""
    families = out.families
    valid_names: set[str] = set()
    for raw in lines:
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        brace = line.find("{")
        space = line.find(" ")
        if brace < 0 and space <= 0:
            out.garbage += 1
            continue
        name = line[:brace] if brace >= 0 else line[:space]
        if not (name in valid_names or _valid_name(name, valid_names)):
            out.garbage += 1
            continue
        if wanted is not None and name not in wanted:
            out.skipped += 1
            continue
        if brace < 0:
            key: str | None = ""
            rest = line[space:]
        else:
            close = line.rfind("}")
            if close < brace:
                out.garbage += 1
                continue
            key = _labels(line[brace + 1 : close])
            rest = line[close + 1 :]
        parts = rest.split()
        if key is None or not 1 <= len(parts) <= 2:
            out.garbage += 1
            continue
        try:
            value = float(parts[0])
        except ValueError:
            out.garbage += 1
            continue
        families.setdefault(name, {})[key] = value
        out.series += 1


def _valid_name(name: str, cache: set[str]) -> bool:
    if _NAME_RE.match(name):
        cache.add(name)
        return True
    return False


def _unescape(value: str) -> str:
    return _ESCAPE_RE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _labels(inner: str) -> str | None:
    """Series key of a label set, or None if it is not one."""
    eq = inner.find('="')
    if eq > 0 and inner.endswith('"') and '",' not in inner and _NAME_RE.match(inner[:eq]):
        # One label: everything between the first '="' and the last '"' is the value, so an
        # unescaped quote inside it does no harm.
        key = inner[eq + 2 : -1]
        return _unescape(key) if "\\" in key else key
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
