"""Exponential backoff with full jitter, and the deadline that bounds it."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``uniform(0, min(cap, base * 2**(attempt-1)))``; ``Retry-After`` wins when given."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return retry_after
        return random.uniform(0, min(self.cap, self.base * 2 ** max(0, attempt - 1)))


def next_wait(
    backoff: Backoff, attempt: int, retry_after: float | None, now: float, deadline: float
) -> float | None:
    """Seconds to wait before the next attempt, or None when the deadline forbids one.

    A jittered wait is cut to the deadline (one last attempt at the deadline); a ``Retry-After``
    that ends past the deadline cannot be honoured, so it gives up.
    """
    remaining = deadline - now
    if remaining <= 0:
        return None
    wait = backoff.delay(attempt, retry_after)
    if wait > remaining:
        return None if retry_after is not None else remaining
    return wait
