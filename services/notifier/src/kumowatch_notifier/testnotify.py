"""Test notifications on request: NATS request/reply on ``subjects.NOTIFIER_TEST``.

The gateway sends a ``NotificationTestRequest``; one replica (queue group ``notifier``) makes a
real send on that channel (webhook event ``kumomta.test``) to the request's ``target`` or the
service default, and replies ``NotificationTestReply``. A request's ``target`` overrides the
destination, so only trusted callers (the gateway's admin API) should be able to publish here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from kumowatch_common import subjects
from kumowatch_common.events import Channel, NotificationTestReply, NotificationTestRequest
from kumowatch_notifier.channels import Sender
from kumowatch_notifier.errors import ChannelError, ChannelNotConfiguredError
from kumowatch_notifier.targets import Defaults, Target

log = logging.getLogger(__name__)

QUEUE = "notifier"


def test_target(req: NotificationTestRequest, defaults: Defaults) -> Target | None:
    """The request's target, else the default for the channel."""
    ch: Channel = req.channel
    if ch == "email":
        if not defaults.smtp_configured:
            return None
        recipients = tuple(a.strip() for a in (req.target or "").split(",") if a.strip())
        recipients = recipients or defaults.email
        return Target("email", recipients=recipients) if recipients else None
    url = req.target or (defaults.slack if ch == "slack" else defaults.webhook)
    return Target(ch, url=url) if url else None


class TestResponder:
    """Answers test requests; each request runs in its own task so one slow send blocks none."""

    def __init__(self, nc: Client, senders: Mapping[Channel, Sender], defaults: Defaults) -> None:
        self.nc = nc
        self.senders = senders
        self.defaults = defaults
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(subjects.NOTIFIER_TEST, queue=QUEUE, cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_msg(self, msg: Msg) -> None:
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            req = NotificationTestRequest.from_bytes(msg.data)
        except ValueError:
            reply = NotificationTestReply(channel="webhook", ok=False, error="invalid request")
        else:
            reply = await self.run(req)
        if msg.reply:
            await msg.respond(reply.to_bytes())

    async def run(self, req: NotificationTestRequest) -> NotificationTestReply:
        """Send one test notification and describe the result."""
        target = test_target(req, self.defaults)
        try:
            if target is None:
                raise ChannelNotConfiguredError(req.channel)
            status = await self.senders[req.channel].send_test(target)
        except ChannelError as exc:
            log.info(
                "test notification failed",
                extra={"channel": req.channel, "by": req.requestedBy, "error": exc.message},
            )
            return NotificationTestReply(
                channel=req.channel, ok=False, error=exc.message, statusCode=exc.status_code
            )
        log.info("test notification sent", extra={"channel": req.channel, "by": req.requestedBy})
        return NotificationTestReply(channel=req.channel, ok=True, statusCode=status)
