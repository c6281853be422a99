"""The gateway's settings: one frozen class, read once in ``main()``."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from kumowatch_common.settings import ServiceSettings

#: The seed's default secret: never accepted outside development.
SEED_DEFAULT_SECRET: Final = "development-secret-key"  # noqa: S105 - the value we refuse
MIN_SECRET_BYTES: Final = 32
SUPPORTED_ALGORITHMS: Final = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
)


class Settings(ServiceSettings):
    """Environment of ``kumowatch-gateway`` (see the service README for the table)."""

    port: int = Field(default=3001, ge=0, le=65535, description="HTTP, WebSocket and health port")
    cors_origin: str = Field(
        default="http://localhost:5173", description="allowed browser origin(s), comma-separated"
    )
    kumowatch_env: Literal["production", "development"] = "production"
    jwt_jwks_url: str | None = Field(default=None, description="JWKS URL for RS256/ES256 tokens")
    jwt_secret: SecretStr | None = Field(default=None, validate_default=True)
    jwt_algorithms: str | None = Field(
        default=None,
        description="pinned algorithms, comma-separated (default HS256 or RS256,ES256)",
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: float = Field(default=10.0, ge=0, le=300)
    jwks_cache_seconds: int = Field(default=300, ge=1)
    ws_query_token: bool = Field(default=True, description="accept ?token= on /ws")
    ws_auth_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    ws_max_msg_size: int = Field(default=64 * 1024, ge=1024, le=4 * 1024 * 1024)
    ws_buffer_size: int = Field(
        default=2048, ge=16, description="outbound frames buffered per WebSocket client"
    )
    ws_slow_client_seconds: float = Field(
        default=10.0, gt=0, description="close a client whose buffer stays full this long (1013)"
    )
    ws_heartbeat_seconds: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    alert_history_limit: int = Field(default=100_000, ge=100)
    notification_history_limit: int = Field(default=10_000, ge=100)
    nats_request_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("jwt_secret")
    @classmethod
    def _secret_policy(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        development = info.data.get("kumowatch_env") == "development"
        if development:
            return value
        if value is None or not value.get_secret_value():
            if info.data.get("jwt_jwks_url"):
                return None
            raise PydanticCustomError(
                "jwt_secret_missing",
                "required outside development (set JWT_SECRET to 32+ random bytes, "
                "JWT_JWKS_URL, or KUMOWATCH_ENV=development)",
            )
        secret = value.get_secret_value()
        if secret == SEED_DEFAULT_SECRET:
            raise PydanticCustomError(
                "jwt_secret_default",
                "the seed's default secret is not accepted outside development",
            )
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise PydanticCustomError(
                "jwt_secret_short",
                f"must be at least {MIN_SECRET_BYTES} bytes outside development",
            )
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _pinned(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        algs = [a.strip() for a in value.split(",") if a.strip()]
        if not algs:
            raise PydanticCustomError("jwt_algorithms_empty", "name at least one algorithm")
        unknown = [a for a in algs if a not in SUPPORTED_ALGORITHMS]
        if unknown:
            raise PydanticCustomError(
                "jwt_algorithms_unknown",
                "unsupported {unknown}: use {supported}",
                {"unknown": ", ".join(unknown), "supported": ", ".join(SUPPORTED_ALGORITHMS)},
            )
        if any(not a.startswith("HS") for a in algs) and not info.data.get("jwt_jwks_url"):
            raise PydanticCustomError(
                "jwt_algorithms_jwks", "RS/ES/PS algorithms need JWT_JWKS_URL"
            )
        return value

    def cors_origins(self) -> frozenset[str]:
        """The allowed origins (``*`` allows any)."""
        return frozenset(o.strip().rstrip("/") for o in self.cors_origin.split(",") if o.strip())

    def algorithms(self) -> list[str]:
        """The pinned JWT algorithms."""
        if self.jwt_algorithms:
            return [a.strip() for a in self.jwt_algorithms.split(",") if a.strip()]
        return ["RS256", "ES256"] if self.jwt_jwks_url else ["HS256"]
