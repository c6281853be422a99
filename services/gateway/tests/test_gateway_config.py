"""Settings policy (JWT_SECRET outside development) and the ``kumowatch token`` CLI."""

from __future__ import annotations

import logging
import subprocess
import sys

import jwt
import pytest
from gateway_support import SECRET
from pydantic import ValidationError

from kumowatch_common.testing import service_env
from kumowatch_gateway import cli
from kumowatch_gateway.auth import Verifier
from kumowatch_gateway.config import Settings


def _errors(**kw: object) -> list[str]:
    with pytest.raises(ValidationError) as info:
        Settings(**kw)  # type: ignore[arg-type]
    return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in info.value.errors()]


def test_production_refuses_to_start_without_a_secret() -> None:
    (err,) = _errors(kumowatch_env="production", jwt_secret=None)
    assert err.startswith("jwt_secret: required outside development")


def test_production_refuses_the_seed_default_and_short_secrets() -> None:
    assert "seed's default" in _errors(jwt_secret="development-secret-key")[0]
    assert "at least 32 bytes" in _errors(jwt_secret="short-secret")[0]


def test_jwks_alone_needs_no_secret_and_pins_asymmetric_algorithms() -> None:
    s = Settings(jwt_jwks_url="http://127.0.0.1:1/jwks.json")
    assert s.algorithms() == ["RS256", "ES256"]
    assert Settings(jwt_secret=SECRET).algorithms() == ["HS256"]


def test_unknown_or_unusable_algorithms_are_refused() -> None:
    assert "unsupported none" in _errors(jwt_secret=SECRET, jwt_algorithms="HS256,none")[0]
    assert "need JWT_JWKS_URL" in _errors(jwt_secret=SECRET, jwt_algorithms="RS256")[0]


def test_development_generates_a_secret_and_never_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Settings(kumowatch_env="development", jwt_secret=None)
    with caplog.at_level(logging.WARNING):
        verifier = Verifier.from_settings(s)
    assert "generated a random secret" in caplog.text
    assert verifier._secret
    assert verifier._secret not in caplog.text


def test_cors_origins_are_a_comma_list() -> None:
    s = Settings(jwt_secret=SECRET, cors_origin="http://a.example, http://b.example/")
    assert s.cors_origins() == {"http://a.example", "http://b.example"}


def test_process_without_secret_exits_2_with_one_clear_line() -> None:
    env = service_env(JWT_SECRET="", KUMOWATCH_ENV="production", JWT_JWKS_URL="")
    env.pop("JWT_SECRET")
    env.pop("JWT_JWKS_URL")
    proc = subprocess.run(
        [sys.executable, "-m", "kumowatch_gateway"], env=env, capture_output=True, timeout=30
    )
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "JWT_SECRET" in lines[0]


async def test_cli_prints_a_token_the_gateway_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    cli.main(["token", "--sub", "ops", "--roles", "admin,operator", "--ttl", "24h"])
    token = capsys.readouterr().out.strip()
    who = await Verifier(secret=SECRET, algorithms=["HS256"]).verify(token)
    assert who.subject == "ops"
    assert who.roles == {"admin", "operator"}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert claims["userId"] == "ops"
    assert claims["username"] == "ops"


def test_cli_without_secret_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main(["token", "--sub", "ops"])
    assert info.value.code == 2
    assert "JWT_SECRET is not set" in capsys.readouterr().err


def test_cli_ttl_units() -> None:
    assert cli.parse_ttl("90") == 90
    assert cli.parse_ttl("15m") == 900
    assert cli.parse_ttl("7d") == 7 * 86400
    with pytest.raises(Exception, match="invalid ttl"):
        cli.parse_ttl("soon")
