"""``kumowatch token --sub NAME --roles admin --ttl 24h``: print a token signed with JWT_SECRET."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Final

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kumowatch_gateway.auth import mint

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TTL_RE: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")


class TokenSettings(BaseSettings):
    """What the CLI reads from the environment (the same names the gateway uses)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)
    jwt_secret: SecretStr | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None


def parse_ttl(text: str) -> float:
    """``90``, ``30s``, ``15m``, ``24h``, ``7d``, ``2w`` → seconds."""
    m = _TTL_RE.match(text.strip().lower())
    if m is None or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid ttl {text!r}: use e.g. 90s, 15m, 24h, 7d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kumowatch", description="kumowatch tools")
    sub = parser.add_subparsers(dest="command", required=True)
    tok = sub.add_parser("token", help="print an HS256 token signed with JWT_SECRET")
    tok.add_argument("--sub", required=True, help="subject (userId)")
    tok.add_argument(
        "--roles", default="", help="comma-separated roles: operator, admin (empty: read only)"
    )
    tok.add_argument("--ttl", type=parse_ttl, default=parse_ttl("24h"), help="lifetime, e.g. 24h")
    tok.add_argument("--username", default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``kumowatch`` console script."""
    args = _parser().parse_args(argv)
    env = TokenSettings()
    secret = env.jwt_secret.get_secret_value() if env.jwt_secret else ""
    if not secret:
        print("kumowatch: JWT_SECRET is not set; export the gateway's secret", file=sys.stderr)
        raise SystemExit(2)
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    token = mint(
        secret,
        sub=args.sub,
        roles=roles,
        ttl_seconds=args.ttl,
        username=args.username,
        issuer=env.jwt_issuer,
        audience=env.jwt_audience,
    )
    print(token)


if __name__ == "__main__":
    main()
