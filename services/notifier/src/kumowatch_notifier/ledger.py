"""Per-event delivery progress, kept only while an event is being retried.

The happy path writes nothing here: an event whose channels all finish on the first attempt is
simply acked. When a channel must retry, the progress (first-attempt time, which fixes the
deadline; attempts and finished channels; the throttle decision) is saved under
``delivery.<hash of event key>`` in the throttle bucket (1-day TTL), so a redelivered message, on
any replica, continues with the same deadline and attempt numbers and does not resend finished
channels or run the throttle twice.
"""

from __future__ import annotations

import hashlib
import logging

from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from kumowatch_common.events import Channel, OutcomeKind

log = logging.getLogger(__name__)


class Progress(BaseModel):
    """What has happened to one alert event so far."""

    model_config = ConfigDict(extra="forbid")
    firstAttemptAt: int = Field(description="epoch ms of the first delivery attempt")
    admitted: bool = False
    noteSuppressed: int = 0
    noteSince: int = 0
    attempts: dict[Channel, int] = Field(default_factory=dict)
    done: dict[Channel, OutcomeKind] = Field(default_factory=dict)


def key(event_key: str) -> str:
    """KV key for an event (alert ids are arbitrary strings; hash them into a valid key)."""
    return "delivery." + hashlib.sha256(event_key.encode()).hexdigest()[:40]


class Ledger:
    """Load, save and forget :class:`Progress` records."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def load(self, event_key: str) -> Progress | None:
        try:
            entry = await self.kv.get(key(event_key))
        except NotFoundError:
            return None
        if not entry.value:
            return None
        try:
            return Progress.model_validate_json(entry.value)
        except ValueError:
            log.warning("unreadable delivery progress ignored", extra={"event": event_key})
            return None

    async def save(self, event_key: str, progress: Progress) -> bool:
        """Best effort: a lost save only means a redelivery starts its deadline again."""
        try:
            await self.kv.put(key(event_key), progress.model_dump_json().encode())
        except Exception as exc:
            log.warning("delivery progress not saved", extra={"error": repr(exc)})
            return False
        return True

    async def forget(self, event_key: str) -> None:
        try:
            await self.kv.delete(key(event_key))
        except Exception as exc:
            log.debug("delivery progress not deleted", extra={"error": repr(exc)})
