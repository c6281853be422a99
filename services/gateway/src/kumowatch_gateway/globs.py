"""Cached case-sensitive glob matching (fnmatch syntax) for filters."""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def match(pattern: str | None, value: str | None) -> bool:
    """True when ``pattern`` is None (no filter) or ``value`` matches it."""
    if pattern is None:
        return True
    if value is None:
        return False
    if not any(c in pattern for c in "*?["):
        return pattern == value
    return _compiled(pattern).match(value) is not None
