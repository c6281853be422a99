"""Scenarios: timelines of traffic changes, faults, admin actions and restarts.

A scenario file (JSON or YAML) looks like::

    {"name": "my-test", "queues": 0, "steps": [
        {"at": 0, "set": {"rate": 50}},
        {"at": 30, "set": {"bounce_ratio": {"gmail": 0.4}}},
        {"at": 60, "fault": "503", "for": 10},
        {"at": 90, "restart": true}]}

``at`` is seconds after the scenario was loaded, on the node's clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kumowatch_sim.admin import BounceV1Request, SuspendReadyQueueV1Request, SuspendV1Request
from kumowatch_sim.errors import ScenarioError
from kumowatch_sim.faults import FaultKind
from kumowatch_sim.knobs import SetRequest

BIG_QUEUES: Final = 100_000


class Step(BaseModel):
    """One timeline entry; at least one action besides ``at`` is required."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    at: float = Field(ge=0)
    set: SetRequest | None = None
    fault: FaultKind | None = None
    for_: float | None = Field(default=None, alias="for", gt=0)
    delay: float | None = Field(default=None, ge=0)
    restart: bool = False
    suspend: SuspendV1Request | None = None
    suspend_ready_q: SuspendReadyQueueV1Request | None = None
    bounce: BounceV1Request | None = None

    @field_validator("fault", mode="before")
    @classmethod
    def _fault_as_text(cls, value: object) -> object:
        # YAML reads an unquoted 503 as an integer.
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _has_action(self) -> Step:
        actions = (self.set, self.fault, self.suspend, self.suspend_ready_q, self.bounce)
        if not self.restart and all(a is None for a in actions):
            raise ValueError(
                "a step needs an action: set, fault, restart, suspend, suspend_ready_q or bounce"
            )
        return self


class Scenario(BaseModel):
    """A named timeline.

    ``queues`` pre-populates that many scheduled queues of deferred mail; ``nodes`` limits the
    timeline to the named nodes (e.g. ``["mta1"]``); the others run steady.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "custom"
    description: str = ""
    queues: int = Field(default=0, ge=0)
    nodes: list[str] | None = None
    steps: list[Step] = Field(default_factory=list)

    def ordered(self) -> list[Step]:
        return sorted(self.steps, key=lambda s: s.at)


def _step(at: float, **fields: Any) -> dict[str, Any]:
    return {"at": at, **fields}


def _builtin(name: str, p: dict[str, Any]) -> dict[str, Any]:
    if name == "steady":
        return {"description": "steady traffic, nothing happens", "steps": []}
    if name == "bounce-spike":
        at, span = float(p.get("spike_at", 30)), float(p.get("spike_for", 60))
        provider, ratio = str(p.get("provider", "gmail")), float(p.get("ratio", 0.4))
        return {
            "description": f"{provider} bounce ratio {ratio} from {at}s for {span}s",
            "steps": [
                _step(at, set={"bounce_ratio": {provider: ratio}}),
                _step(at + span, set={"bounce_ratio": {provider: None}}),
            ],
        }
    if name == "queue-buildup":
        at, span = float(p.get("at", 5)), float(p.get("duration", 120))
        queue = str(p.get("queue", "promo:acme@comcast.net"))
        provider, rate = str(p.get("provider", "comcast")), float(p.get("rate", 250))
        return {
            "description": f"{queue} grows while {provider} is throttled to zero",
            "steps": [
                _step(at, set={"throttle": {provider: 0.0}, "queue_rate": {queue: rate}}),
                _step(at + span, set={"throttle": {provider: None}, "queue_rate": {queue: None}}),
            ],
        }
    if name == "delivery-stall":
        at, span = float(p.get("at", 10)), float(p.get("duration", 60))
        return {
            "description": "deliveries stop while receptions continue",
            "steps": [
                _step(at, set={"deliveries": False}),
                _step(at + span, set={"deliveries": True}),
            ],
        }
    if name == "node-down":
        at, span = float(p.get("at", 20)), float(p.get("duration", 30))
        return {
            "description": "the node is unreachable for a while",
            "nodes": [str(p.get("node", "mta1"))],
            "steps": [_step(at, fault=str(p.get("kind", "refuse")), **{"for": span})],
        }
    if name == "restart":
        return {
            "description": "kumod restarts",
            "nodes": [str(p.get("node", "mta1"))],
            "steps": [_step(float(p.get("at", 30)), restart=True)],
        }
    if name == "big":
        return {"description": "many scheduled queues", "queues": int(p.get("queues", BIG_QUEUES))}
    raise ScenarioError(f"unknown scenario {name!r}; built in: {', '.join(BUILTIN)}")


BUILTIN: Final[tuple[str, ...]] = (
    "steady",
    "bounce-spike",
    "queue-buildup",
    "delivery-stall",
    "node-down",
    "restart",
    "big",
)


def _validate(data: object, origin: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScenarioError(f"invalid scenario {origin}: {problems}") from exc


def builtin_scenario(name: str, params: dict[str, Any] | None = None) -> Scenario:
    """A built-in scenario, optionally with parameters (e.g. ``spike_at``, ``provider``)."""
    data = _builtin(name, params or {})
    return _validate({"name": name, **data}, repr(name))


def load_scenario_file(path: Path) -> Scenario:
    """Read and validate a JSON or YAML scenario file."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    try:
        data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot parse scenario {path}: {exc}") from exc
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return _validate(data, str(path))


def resolve_scenario(spec: str | Scenario, params: dict[str, Any] | None = None) -> Scenario:
    """A scenario from a built-in name, a file path, or an already-built Scenario."""
    if isinstance(spec, Scenario):
        return spec
    if spec in BUILTIN:
        return builtin_scenario(spec, params)
    path = Path(spec)
    if path.suffix in {".json", ".yaml", ".yml"} or path.exists():
        return load_scenario_file(path)
    raise ScenarioError(f"unknown scenario {spec!r}; built in: {', '.join(BUILTIN)}, or a file")


class Timeline:
    """Hands out a scenario's steps as the node's clock passes them."""

    def __init__(self, scenario: Scenario, start: float) -> None:
        self.scenario = scenario
        self.start = start
        self._steps = scenario.ordered()
        self._next = 0

    def due(self, now: float) -> list[Step]:
        elapsed = now - self.start
        out: list[Step] = []
        while self._next < len(self._steps) and self._steps[self._next].at <= elapsed:
            out.append(self._steps[self._next])
            self._next += 1
        return out

    @property
    def remaining(self) -> int:
        return len(self._steps) - self._next
