"""``kumowatch-alerter`` / ``python -m kumowatch_alerter``."""

from __future__ import annotations

from functools import partial

from kumowatch_alerter.config import Settings
from kumowatch_alerter.service import serve
from kumowatch_common import lifecycle, log
from kumowatch_common.settings import load


def main() -> None:
    settings = load(Settings, "kumowatch-alerter")
    log.setup("alerter", settings.log_level)
    lifecycle.run("alerter", partial(serve, settings), settings.shutdown_grace_seconds)


if __name__ == "__main__":
    main()
