"""Token checks on REST: pinned algorithms, exp required, roles; JWKS with a real local endpoint."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from gateway_support import SECRET, Gateway, alert_event, auth, rule, token, uid, wait_until
from nats.aio.client import Client

from kumowatch_common import subjects
from kumowatch_common.testing import free_port
from kumowatch_gateway.app import create_app
from kumowatch_gateway.auth import Verifier
from kumowatch_gateway.config import Settings
from kumowatch_gateway.errors import AuthError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


async def _status(http: aiohttp.ClientSession, gw: Gateway, tok: str | None) -> int:
    headers = {"Authorization": f"Bearer {tok}"} if tok is not None else {}
    async with http.get(f"{gw.url}/api/alerts/rules", headers=headers) as r:
        body = await r.json()
        assert body["success"] is False if r.status != 200 else isinstance(body, list)
        return r.status


async def test_no_token_is_401_with_json(http: aiohttp.ClientSession, gw: Gateway) -> None:
    async with http.get(f"{gw.url}/api/alerts/rules") as r:
        assert r.status == 401
        assert await r.json() == {"success": False, "message": "Authentication token required"}


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: token("admin")[:-4] + "AAAA", id="bad-signature"),
        pytest.param(
            lambda: jwt.encode({"sub": "x", "exp": time.time() + 60}, "another-secret-" * 3),
            id="other-secret",
        ),
        pytest.param(
            lambda: _unsigned({"sub": "x", "roles": ["admin"], "exp": time.time() + 60}),
            id="alg-none",
        ),
        pytest.param(
            lambda: jwt.encode(
                {"sub": "x", "roles": ["admin"], "exp": time.time() + 60}, SECRET, "HS384"
            ),
            id="hs384-when-hs256-pinned",
        ),
        pytest.param(
            lambda: jwt.encode(
                {"sub": "x", "exp": time.time() + 60},
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "RS256",
            ),
            id="rs256-when-hs256-pinned",
        ),
        pytest.param(lambda: token("admin", ttl=-60), id="expired"),
        pytest.param(lambda: jwt.encode({"sub": "x", "roles": ["admin"]}, SECRET), id="no-exp"),
        pytest.param(lambda: jwt.encode({"exp": time.time() + 60}, SECRET), id="no-subject"),
        pytest.param(
            lambda: jwt.encode({"sub": "x", "roles": "admin", "exp": time.time() + 60}, SECRET),
            id="roles-not-a-list",
        ),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
async def test_invalid_tokens_are_401(http: aiohttp.ClientSession, gw: Gateway, make: Any) -> None:
    assert await _status(http, gw, make()) == 401


async def test_any_valid_token_reads(http: aiohttp.ClientSession, gw: Gateway) -> None:
    assert await _status(http, gw, token()) == 200


async def test_seed_user_id_claim_is_accepted(http: aiohttp.ClientSession, gw: Gateway) -> None:
    tok = jwt.encode(
        {"userId": "u1", "username": "Ann", "roles": ["operator"], "exp": time.time() + 60},
        SECRET,
    )
    async with http.get(f"{gw.url}/api/me", headers={"Authorization": f"Bearer {tok}"}) as r:
        me = await r.json()
    assert me["userId"] == "u1"
    assert me["username"] == "Ann"
    assert me["roles"] == ["operator"]


@pytest.mark.parametrize("roles", [(), ("operator",)])
async def test_non_admins_cannot_change_rules(
    http: aiohttp.ClientSession, gw: Gateway, roles: tuple[str, ...]
) -> None:
    rid = uid("rbac")
    async with http.post(f"{gw.url}/api/alerts/rules", json=rule(rid), headers=auth(*roles)) as r:
        assert r.status == 403
        assert (await r.json())["success"] is False
    for method, path, body in [
        ("DELETE", f"/api/alerts/rules/{rid}", None),
        ("PATCH", f"/api/alerts/rules/{rid}/toggle", {"enabled": True}),
        ("PUT", f"/api/alerts/rules/{rid}", rule(rid)),
        ("POST", "/api/notifications/test", {"channel": "slack"}),
    ]:
        async with http.request(method, gw.url + path, json=body, headers=auth(*roles)) as r:
            assert r.status == 403, (method, path)


async def test_viewer_cannot_acknowledge_or_silence(
    http: aiohttp.ClientSession, gw: Gateway
) -> None:
    async with http.post(f"{gw.url}/api/alerts/x/acknowledge", headers=auth()) as r:
        assert r.status == 403
    silence = {"matchers": [{"name": "node", "value": "mta1"}], "durationMs": 60000}
    async with http.post(f"{gw.url}/api/silences", json=silence, headers=auth()) as r:
        assert r.status == 403


async def test_operator_acknowledges_and_admin_changes_rules(
    http: aiohttp.ClientSession, gw: Gateway, gw_nc: Client
) -> None:
    rid = uid("ack-rule")
    ev = alert_event(rid)
    await gw_nc.jetstream().publish(subjects.alert(rid, "firing"), ev.to_bytes())

    async def known() -> bool:
        async with http.get(f"{gw.url}/api/alerts/{ev.alert.id}", headers=auth()) as r:
            return r.status == 200

    await wait_until(known)
    url = f"{gw.url}/api/alerts/{ev.alert.id}/acknowledge"
    async with http.post(url, headers=auth("operator", sub="op1")) as r:
        assert r.status == 200
        assert (await r.json())["message"] == "Alert acknowledged"
    async with http.post(f"{gw.url}/api/alerts/rules", json=rule(rid), headers=auth("admin")) as r:
        assert r.status == 200
    async with http.delete(f"{gw.url}/api/alerts/rules/{rid}", headers=auth("admin")) as r:
        assert r.status == 200


# --------------------------------------------------------------------------- Verifier, JWKS


@pytest.fixture
async def jwks() -> AsyncIterator[tuple[str, Any, Any]]:
    """A real JWKS endpoint serving one RSA and one EC public key."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, key, alg in (("rsa-1", rsa_key, "RS256"), ("ec-1", ec_key, "ES256")):
        algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algo.to_jwk(key.public_key()))
        jwk.update(kid=kid, alg=alg, use="sig")
        keys.append(jwk)

    async def serve_keys(_: web.Request) -> web.Response:
        return web.json_response({"keys": keys})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", serve_keys)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/.well-known/jwks.json", rsa_key, ec_key
    await runner.cleanup()


def _claims(**kw: Any) -> dict[str, Any]:
    return {"sub": "sso-user", "roles": ["admin"], "exp": int(time.time()) + 300, **kw}


async def test_jwks_rs256_and_es256_tokens_verify(jwks: tuple[str, Any, Any]) -> None:
    url, rsa_key, ec_key = jwks
    v = Verifier(
        secret=None, algorithms=["RS256", "ES256"], jwks_url=url, issuer="https://idp",
        audience="kumowatch",
    )  # fmt: skip
    claims = _claims(iss="https://idp", aud="kumowatch")
    rs = jwt.encode(claims, rsa_key, "RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims, ec_key, "ES256", headers={"kid": "ec-1"})
    assert (await v.verify(rs)).subject == "sso-user"
    assert (await v.verify(es)).roles == {"admin"}
    with pytest.raises(AuthError, match="issuer"):
        await v.verify(jwt.encode(_claims(iss="evil", aud="kumowatch"), rsa_key, "RS256",
                                  headers={"kid": "rsa-1"}))  # fmt: skip
    with pytest.raises(AuthError, match="audience"):
        await v.verify(jwt.encode(_claims(iss="https://idp", aud="other"), rsa_key, "RS256",
                                  headers={"kid": "rsa-1"}))  # fmt: skip
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthError):
        await v.verify(jwt.encode(claims, other, "RS256", headers={"kid": "rsa-1"}))
    with pytest.raises(AuthError, match="signing key not found"):
        await v.verify(jwt.encode(claims, rsa_key, "RS256", headers={"kid": "unknown"}))
    # An HS256 token signed with the public key's bytes (algorithm confusion) is refused.
    with pytest.raises(AuthError, match="algorithm not allowed"):
        await v.verify(jwt.encode(claims, "x" * 40, "HS256"))


async def test_gateway_with_jwks_accepts_sso_tokens(
    jwks: tuple[str, Any, Any], http: aiohttp.ClientSession
) -> None:
    url, rsa_key, _ = jwks
    app = create_app(Settings(jwt_jwks_url=url, jwt_algorithms="RS256"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        tok = jwt.encode(_claims(), rsa_key, "RS256", headers={"kid": "rsa-1"})
        headers = {"Authorization": f"Bearer {tok}"}
        async with http.get(f"http://127.0.0.1:{port}/api/me", headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["userId"] == "sso-user"
        async with http.get(
            f"http://127.0.0.1:{port}/api/me", headers={"Authorization": f"Bearer {token()}"}
        ) as r:
            assert r.status == 401
    finally:
        await runner.cleanup()


async def test_tokens_never_appear_in_logs(
    http: aiohttp.ClientSession, gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = token("admin"), token("admin", ttl=-60)
    with caplog.at_level("DEBUG"):
        for tok in (good, bad):
            async with http.get(
                f"{gw.url}/api/me", headers={"Authorization": f"Bearer {tok}"}
            ) as r:
                await r.read()
            async with http.ws_connect(f"{gw.url}/ws?token={tok}") as sock:
                await sock.receive(timeout=5)
    assert good not in caplog.text
    assert bad not in caplog.text
