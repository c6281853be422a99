"""``kumowatch-poller``: read settings, set up logging, run until SIGTERM."""

from __future__ import annotations

from functools import partial

from kumowatch_common import lifecycle, log
from kumowatch_common.settings import load
from kumowatch_poller.config import Settings
from kumowatch_poller.service import serve


def main() -> None:
    """Entry point of the console script and of ``python -m kumowatch_poller``."""
    settings = load(Settings, "kumowatch-poller")
    log.setup("poller", settings.log_level)
    lifecycle.run("poller", partial(serve, settings), settings.shutdown_grace_seconds)


if __name__ == "__main__":
    main()
