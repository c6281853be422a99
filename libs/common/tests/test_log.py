from __future__ import annotations

import logging

import orjson
import pytest
from pydantic import SecretStr

from kumowatch_common import log as kwlog
from kumowatch_common.settings import ServiceSettings, load


def test_json_line_carries_extras_and_masks_registered_secrets() -> None:
    kwlog.register_secret("s3cr3t-token-value")
    formatter = kwlog.JsonFormatter("poller")
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "auth with %s", ("s3cr3t-token-value",), None
    )
    record.node = "mta1"
    line = formatter.format(record)
    doc = orjson.loads(line)
    assert doc["service"] == "poller"
    assert doc["node"] == "mta1"
    assert "s3cr3t-token-value" not in line
    assert doc["msg"] == "auth with ***"


def test_settings_load_registers_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_TOKEN", "nats-token-abcdef")
    settings = load(ServiceSettings, "test")
    assert isinstance(settings.nats_token, SecretStr)
    assert kwlog.mask("x nats-token-abcdef y") == "x *** y"


def test_bad_value_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEASE_TTL_SECONDS", "soon")
    with pytest.raises(SystemExit) as exc:
        load(ServiceSettings, "kumowatch-poller")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("kumowatch-poller: invalid configuration: LEASE_TTL_SECONDS:")
