"""JWT verification and roles: HS* with ``JWT_SECRET``, RS*/ES*/PS* through a JWKS URL.

Algorithms are pinned (the header's ``alg`` must be one of them, ``none`` never is), ``exp`` is
required, issuer and audience are checked when configured. Claims follow the seed's AuthToken:
``userId`` (or the standard ``sub``), ``username``, ``roles``. Any valid token reads; ``operator``
or ``admin`` acknowledges and silences; ``admin`` changes rules and sends test notifications.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

import jwt

from kumowatch_gateway.config import Settings
from kumowatch_gateway.errors import AuthError

log = logging.getLogger(__name__)

Access = Literal["public", "read", "operate", "admin"]
OPERATE_ROLES: Final = frozenset({"operator", "admin"})
ADMIN_ROLES: Final = frozenset({"admin"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request, from a verified token."""

    subject: str
    username: str
    roles: frozenset[str]
    expires_at: float

    def allows(self, access: Access) -> bool:
        """Whether these roles grant ``access``."""
        if access in ("public", "read"):
            return True
        if access == "operate":
            return bool(self.roles & OPERATE_ROLES)
        return bool(self.roles & ADMIN_ROLES)

    def public(self) -> dict[str, object]:
        """The claims a client may see about itself."""
        return {
            "userId": self.subject,
            "username": self.username,
            "roles": sorted(self.roles),
            "exp": int(self.expires_at),
        }


class Verifier:
    """Checks tokens against the configured keys, algorithms, issuer and audience."""

    def __init__(
        self,
        *,
        secret: str | None,
        algorithms: list[str],
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 10.0,
        jwks_cache_seconds: int = 300,
    ) -> None:
        self.algorithms = frozenset(algorithms)
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._jwks = (
            jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=jwks_cache_seconds, timeout=5)
            if jwks_url
            else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Verifier:
        """The verifier for ``settings``; a development run without a secret gets a random one."""
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        algorithms = settings.algorithms()
        if not secret and any(a.startswith("HS") for a in algorithms):
            secret = secrets.token_urlsafe(48)
            log.warning(
                "JWT_SECRET is not set: generated a random secret for this development run; "
                "tokens from `kumowatch token` will not verify until JWT_SECRET is set"
            )
        return cls(
            secret=secret,
            algorithms=algorithms,
            jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
            jwks_cache_seconds=settings.jwks_cache_seconds,
        )

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token, or :class:`AuthError` saying why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise AuthError("token algorithm not allowed")
        key = await self._key(alg, token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token has no {exc.claim!r} claim") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token issuer not accepted") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token audience not accepted") from None
        except jwt.PyJWTError:
            raise AuthError("invalid token signature or claims") from None
        return _principal(claims)

    async def _key(self, alg: str, token: str) -> Any:
        if alg.startswith("HS"):
            if not self._secret:
                raise AuthError("token algorithm not allowed")
            return self._secret
        if self._jwks is None:
            raise AuthError("token algorithm not allowed")
        try:
            signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientError as exc:
            log.warning("JWKS lookup failed", extra={"error": str(exc)})
            raise AuthError("signing key not found") from None
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        return signing.key


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("userId") or claims.get("sub")
    if not isinstance(subject, str | int) or subject == "":
        raise AuthError("token has no 'userId' or 'sub' claim")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError("token claim 'roles' must be a list of strings")
    username = claims.get("username")
    exp = claims["exp"]
    if not isinstance(exp, int | float):
        raise AuthError("token claim 'exp' must be a number")
    return Principal(
        subject=str(subject),
        username=username if isinstance(username, str) and username else str(subject),
        roles=frozenset(roles),
        expires_at=float(exp),
    )


def mint(
    secret: str,
    *,
    sub: str,
    roles: list[str],
    ttl_seconds: float,
    username: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    algorithm: str = "HS256",
    now: float | None = None,
) -> str:
    """An HS* token with the seed's claims (``userId``, ``username``, ``roles``) plus ``sub``."""
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {
        "sub": sub,
        "userId": sub,
        "username": username or sub,
        "roles": roles,
        "iat": int(issued),
        "exp": int(issued + ttl_seconds),
    }
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=algorithm)
