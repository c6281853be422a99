"""The reference samples (literal KumoMTA formats) copied for the poller tests."""

from __future__ import annotations

from pathlib import Path

#: Copies of reference/kumomta-samples, first line a source comment.
SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    """A reference sample without its first (source comment) line."""
    return (SAMPLES / name).read_text().split("\n", 1)[1]
