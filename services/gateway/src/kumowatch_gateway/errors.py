"""Errors of the gateway; every one becomes a JSON answer, never a stack trace.

::

    GatewayError
    ├── ApiError                 an HTTP answer with a status and a JSON body
    │   ├── BadRequest           400, names each bad field
    │   ├── Unauthorized         401
    │   ├── Forbidden            403
    │   ├── NotFound             404
    │   ├── Conflict             409
    │   ├── Unavailable          503 (NATS not reachable yet)
    │   └── UpstreamTimeout      504 (no notifier answered)
    └── AuthError                a token that cannot be accepted (reason is safe to show)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class GatewayError(Exception):
    """Base of every gateway error."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One bad field of a request (dotted path) and what is wrong with it."""

    field: str
    message: str


class ApiError(GatewayError):
    """An error answered as ``{"success": false, "message": ..., "errors": [...]}``."""

    status: int = 500

    def __init__(self, message: str, errors: Sequence[FieldProblem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)

    def body(self) -> dict[str, object]:
        """The JSON body."""
        doc: dict[str, object] = {"success": False, "message": self.message}
        if self.errors:
            doc["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return doc


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unavailable(ApiError):
    status = 503


class UpstreamTimeout(ApiError):
    status = 504


class AuthError(GatewayError):
    """A token was refused; ``reason`` never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
