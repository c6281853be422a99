"""``kumowatch-notifier``: read the settings, set up logging, run until SIGTERM."""

from __future__ import annotations

from functools import partial

from kumowatch_common import lifecycle, log
from kumowatch_common.settings import load
from kumowatch_notifier.config import Settings
from kumowatch_notifier.service import serve


def main() -> None:
    """Entry point of the console script."""
    settings = load(Settings, "kumowatch-notifier")
    log.setup("notifier", settings.log_level)
    lifecycle.run("notifier", partial(serve, settings), settings.shutdown_grace_seconds)


if __name__ == "__main__":
    main()
