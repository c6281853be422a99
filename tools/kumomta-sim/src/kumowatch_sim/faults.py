"""HTTP fault injection: 503s, garbage bodies, slow answers, refused connections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

FaultKind = Literal["none", "503", "garbage", "slow", "refuse"]
FAULT_KINDS: Final[tuple[str, ...]] = get_args(FaultKind)
DEFAULT_SLOW_DELAY: Final = 2.0


@dataclass(slots=True)
class FaultState:
    """The node's current fault; ``until`` is on the node's clock (None: until cleared)."""

    kind: FaultKind = "none"
    until: float | None = None
    delay: float = DEFAULT_SLOW_DELAY

    def set(self, kind: FaultKind, now: float, seconds: float | None, delay: float | None) -> None:
        self.kind = kind
        self.until = None if seconds is None or kind == "none" else now + seconds
        self.delay = DEFAULT_SLOW_DELAY if delay is None else delay

    def current(self, now: float) -> FaultKind:
        """The active fault, clearing it once its duration has passed."""
        if self.until is not None and now >= self.until:
            self.kind = "none"
            self.until = None
        return self.kind

    def as_json(self, now: float) -> dict[str, object]:
        kind = self.current(now)
        return {
            "kind": kind,
            "remaining": None if self.until is None else max(0.0, self.until - now),
            "delay": self.delay,
        }
