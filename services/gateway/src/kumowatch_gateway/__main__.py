"""``kumowatch-gateway``: REST, WebSocket push and JWT auth over the NATS read model."""

from __future__ import annotations

from functools import partial

from kumowatch_common import lifecycle, log
from kumowatch_common.settings import load
from kumowatch_gateway.config import Settings
from kumowatch_gateway.service import serve


def main() -> None:
    settings = load(Settings, "kumowatch-gateway")
    log.setup("gateway", settings.log_level)
    lifecycle.run("gateway", partial(serve, settings), settings.shutdown_grace_seconds)


if __name__ == "__main__":
    main()
