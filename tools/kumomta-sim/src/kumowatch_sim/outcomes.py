"""SMTP responses and bounce classifications the simulated receivers hand out."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Outcome:
    """A canned receiver reply with its bounce classification."""

    classification: str
    weight: float
    code: int
    enhanced: tuple[int, int, int]
    content: str
    command: str


BOUNCES: Final[tuple[Outcome, ...]] = (
    Outcome(
        "InvalidRecipient",
        50,
        550,
        (5, 1, 1),
        "recipient address rejected: no such user",
        "RCPT TO",
    ),
    Outcome("SpamBlock", 15, 550, (5, 7, 1), "rejected by policy: sender reputation too low", "."),
    Outcome("QuotaIssues", 10, 552, (5, 2, 2), "mailbox full and not accepting mail", "RCPT TO"),
    Outcome(
        "InactiveMailbox", 10, 550, (5, 2, 1), "mailbox disabled for this recipient", "RCPT TO"
    ),
    Outcome("PolicyRelated", 5, 550, (5, 7, 26), "unauthenticated sender refused by policy", "."),
    Outcome("BadDomain", 5, 550, (5, 1, 2), "destination domain does not accept mail", "RCPT TO"),
    Outcome("SpamContent", 5, 554, (5, 7, 1), "message content looks like spam", "."),
)

TRANSFAILS: Final[tuple[Outcome, ...]] = (
    Outcome(
        "TransientFailure", 50, 421, (4, 7, 0), "too many connections, try again later", "MAIL FROM"
    ),
    Outcome("SpamBlock", 20, 421, (4, 7, 28), "unusual volume from your address, slow down", "."),
    Outcome("QuotaIssues", 15, 452, (4, 2, 2), "mailbox temporarily over quota", "RCPT TO"),
    Outcome("NoAnswerFromHost", 15, 451, (4, 4, 2), "timed out waiting for a response", "."),
)


class Picker:
    """Weighted choice over outcomes with a caller-supplied RNG."""

    def __init__(self, outcomes: tuple[Outcome, ...]) -> None:
        self._outcomes = outcomes
        self._cum = list(itertools.accumulate(o.weight for o in outcomes))

    def pick(self, rng: random.Random) -> Outcome:
        index = bisect.bisect_right(self._cum, rng.random() * self._cum[-1])
        return self._outcomes[min(index, len(self._outcomes) - 1)]
