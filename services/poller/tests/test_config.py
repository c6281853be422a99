"""Settings: node lists, validation with one clear error, timeouts below the interval."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kumowatch_common.settings import format_errors
from kumowatch_poller.config import Node, Settings


def test_defaults() -> None:
    s = Settings()
    assert s.nodes == (Node("kumomta", "http://127.0.0.1:8000"),)
    assert s.kumomta_poll_interval == 5
    assert s.request_timeout == 4
    assert s.kumomta_metrics_format == "text"
    assert s.poller_port == 3002
    assert s.kumomta_state_interval == 30
    assert s.ingest_max_body_bytes == 16 * 1024 * 1024


def test_one_bare_url_takes_the_node_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUMOMTA_API_URL", "http://10.0.0.5:8000/")
    monkeypatch.setenv("KUMOMTA_NODE_NAME", "edge-1")
    assert Settings().nodes == (Node("edge-1", "http://10.0.0.5:8000"),)


def test_named_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUMOMTA_API_URL", "a=http://h1:8000, b_2=https://h2")
    assert [n.name for n in Settings().nodes] == ["a", "b_2"]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("bad name=http://h:8000", "invalid node name"),
        ("a=http://h1,http://h2", "name=url"),
        ("a=ftp://h1", "not an http(s) URL"),
        ("a=http://h1,a=http://h2", "duplicate node names"),
        (" , ", "no KumoMTA node"),
    ],
)
def test_bad_node_lists_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, needle: str
) -> None:
    monkeypatch.setenv("KUMOMTA_API_URL", value)
    with pytest.raises(ValidationError) as info:
        Settings()
    text = format_errors("kumowatch-poller", info.value)
    assert "KUMOMTA_API_URL" in text
    assert needle in text
    assert len(text.splitlines()) == 1


def test_timeout_must_be_below_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUMOMTA_POLL_INTERVAL", "2")
    monkeypatch.setenv("KUMOMTA_REQUEST_TIMEOUT", "2")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "KUMOMTA_REQUEST_TIMEOUT" in format_errors("p", info.value)
    monkeypatch.setenv("KUMOMTA_REQUEST_TIMEOUT", "0.5")
    assert Settings().request_timeout == 0.5


def test_secrets_are_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUMOMTA_API_TOKEN", "kumo-secret-token")
    monkeypatch.setenv("KUMOMTA_INGEST_TOKEN", "ingest-secret-token")
    s = Settings()
    assert "kumo-secret-token" not in repr(s)
    assert set(s.secrets()) == {"kumo-secret-token", "ingest-secret-token"}
