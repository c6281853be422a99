"""Simulator configuration, shared by the CLI and the Python API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kumowatch_sim.metrics import QUIRKS
from kumowatch_sim.scenario import Scenario

VERSION = "2026.06.23-f3af1cd0"


class SimConfig(BaseModel):
    """How many nodes to run, where, and with what traffic, scenario and log hook.

    ``port=0`` gives every node its own free port; otherwise node ``i`` listens on ``port+i``.
    ``queues`` pre-populates that many scheduled queues of deferred mail per node (the ``big``
    scenario defaults it to 100000). ``run_ticker=False`` leaves the clock still, so tests step
    it with ``node.model.advance(seconds)``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    nodes: int = Field(default=1, ge=1, le=64)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    scenario: str | Scenario = "steady"
    scenario_params: dict[str, float | int | str] = Field(default_factory=dict)
    seed: int = 0
    rate: float = Field(default=50.0, ge=0)
    queues: int | None = Field(default=None, ge=0)
    tick: float = Field(default=0.5, gt=0, le=10)
    prune_after: float = Field(default=120.0, gt=0)
    run_ticker: bool = True
    log_hook_url: str | None = None
    log_hook_mode: Literal["single", "batch"] = "single"
    log_hook_batch_size: int = Field(default=100, ge=1)
    log_hook_headers: dict[str, str] = Field(default_factory=dict)
    log_hook_queue_size: int = Field(default=50_000, ge=1)
    log_hook_timeout: float = Field(default=5.0, gt=0)
    log_hook_concurrency: int = Field(default=4, ge=1, le=64)
    log_hook_backoff: float = Field(default=0.05, gt=0)
    log_hook_max_backoff: float = Field(default=5.0, gt=0)
    quirks: frozenset[str] = frozenset()
    version: str = VERSION

    @field_validator("quirks")
    @classmethod
    def _known_quirks(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = value - QUIRKS
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {sorted(QUIRKS)}")
        return value

    @field_validator("log_hook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("log_hook_url must be an http:// or https:// URL")
        return value


def parse_header(text: str) -> tuple[str, str]:
    """Split ``'Name: value'`` into a header pair."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"header {text!r} is not of the form 'Name: value'")
    return name.strip(), value.strip()
