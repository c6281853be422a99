"""kumowatch alerter: rules over KumoMTA snapshots and log records, and the alert lifecycle."""

from kumowatch_alerter.config import Settings
from kumowatch_alerter.engine import Engine
from kumowatch_alerter.service import serve
from kumowatch_alerter.statemachine import Transition

__all__ = ["Engine", "Settings", "Transition", "serve"]
