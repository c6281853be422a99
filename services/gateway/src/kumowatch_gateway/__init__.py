"""kumowatch gateway: REST, raw WebSocket push and JWT auth over the NATS read model."""

from kumowatch_gateway.app import create_app
from kumowatch_gateway.auth import Principal, Verifier, mint
from kumowatch_gateway.config import Settings
from kumowatch_gateway.service import serve

__all__ = ["Principal", "Settings", "Verifier", "create_app", "mint", "serve"]
