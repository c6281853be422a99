"""The poller's settings: which KumoMTA nodes to poll, how often, and the log-hook ingest endpoint.

``KUMOMTA_API_URL`` is one URL (the node is then named ``KUMOMTA_NODE_NAME``) or a comma-separated
list of ``name=url``. Node names become NATS subject tokens, so they are validated here, at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from yarl import URL

from kumowatch_common.settings import ServiceSettings
from kumowatch_common.subjects import InvalidTokenError, validate_token


@dataclass(frozen=True, slots=True)
class Node:
    """One KumoMTA node: its subject-safe name and the base URL of its HTTP listener."""

    name: str
    url: str


def parse_nodes(spec: str, default_name: str) -> tuple[Node, ...]:
    """``http://host:8000`` or ``a=http://h1:8000,b=http://h2:8000`` into nodes (ValueError if bad)."""
    items = [part.strip() for part in spec.split(",") if part.strip()]
    if not items:
        raise ValueError("no KumoMTA node given: set one URL or comma-separated name=url pairs")
    nodes: list[Node] = []
    for item in items:
        name, sep, url = item.partition("=")
        if not sep:
            if len(items) > 1:
                raise ValueError(f"{item!r}: with several nodes each entry must be name=url")
            name, url = default_name, item
        name, url = name.strip(), url.strip()
        try:
            validate_token(name, "node name")
        except InvalidTokenError as exc:
            raise ValueError(str(exc)) from None
        nodes.append(Node(name, _check_url(url, name)))
    names = [n.name for n in nodes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate node names: {', '.join(dupes)}")
    return tuple(nodes)


def _check_url(url: str, name: str) -> str:
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"node {name!r}: {url!r} is not an http(s) URL with a host")
    return str(parsed).rstrip("/")


class Settings(ServiceSettings):
    """Environment of ``kumowatch-poller`` (names are the field names in upper case)."""

    poller_port: int = Field(default=3002, ge=0, le=65535, description="HTTP port: ingest, health")
    kumomta_node_name: str = Field(default="kumomta", description="name when one bare URL is given")
    kumomta_api_url: str = Field(default="http://127.0.0.1:8000")
    kumomta_api_token: SecretStr | None = Field(default=None, description="Bearer for KumoMTA")
    kumomta_poll_interval: float = Field(default=5.0, gt=0, le=3600)
    kumomta_request_timeout: float | None = Field(
        default=None, gt=0, description="per request; default 0.8 x the poll interval"
    )
    kumomta_metrics_format: Literal["text", "json"] = "text"
    kumomta_state_interval: float = Field(default=30.0, gt=0, le=3600)
    kumomta_ingest_token: SecretStr | None = Field(default=None, description="Bearer for ingest")
    ingest_max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    @field_validator("kumomta_node_name")
    @classmethod
    def _valid_node_name(cls, value: str) -> str:
        return validate_token(value, "node name")

    @field_validator("kumomta_api_url")
    @classmethod
    def _valid_nodes(cls, value: str, info: ValidationInfo) -> str:
        parse_nodes(value, info.data.get("kumomta_node_name", "kumomta"))
        return value

    @field_validator("kumomta_request_timeout")
    @classmethod
    def _below_interval(cls, value: float | None, info: ValidationInfo) -> float | None:
        interval = info.data.get("kumomta_poll_interval")
        if value is not None and interval is not None and value >= interval:
            raise ValueError(f"must be below KUMOMTA_POLL_INTERVAL ({interval} s)")
        return value

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The configured nodes, in order."""
        return parse_nodes(self.kumomta_api_url, self.kumomta_node_name)

    @property
    def request_timeout(self) -> float:
        """Per-request timeout in seconds, always below the poll interval."""
        if self.kumomta_request_timeout is not None:
            return self.kumomta_request_timeout
        return self.kumomta_poll_interval * 0.8
