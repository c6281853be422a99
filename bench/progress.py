"""One line per step on stderr, with the elapsed time, so a long run shows where it is."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``progress.step("detection: trial 3/10")`` prints ``[  42s] detection: trial 3/10``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.start = time.monotonic()
        self.stream = stream if stream is not None else sys.stderr

    def step(self, message: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"[{elapsed:5.0f}s] {message}", file=self.stream, flush=True)
