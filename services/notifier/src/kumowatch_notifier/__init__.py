"""kumowatch notifier: alert events to email, Slack and webhooks, throttled, retried, recorded."""

from kumowatch_notifier.config import Settings
from kumowatch_notifier.service import serve

__all__ = ["Settings", "serve"]
