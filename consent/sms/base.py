"""The provider interface: send one message, and find one we are unsure about.

A send has four outcomes, and the sender treats each differently:

- ``ACCEPTED``: the provider took it (it has a sid). Later status comes by callback.
- ``RATE_LIMITED``: refused for now (HTTP 429, or the connection never opened): nothing was
  sent, so it is safe to try again after a pause.
- ``REJECTED``: refused for good (bad number, blocked): a failed message, never retried.
- ``UNKNOWN``: a 5xx or a timeout after the request left: the provider may or may not have
  it. Never resent blindly; `find` (or the status callback) settles it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class SendOutcome(enum.Enum):
    ACCEPTED = "accepted"
    RATE_LIMITED = "rate_limited"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class OutgoingSms:
    to: str  # E.164
    body: str
    reference: str  # ours (the SmsMessage id): rides on the status-callback URL
    status_callback: str = ""


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    sid: str = ""
    status: str = ""
    error_code: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class FoundMessage:
    sid: str
    status: str


class LookupUnavailable(Exception):
    """The provider could not be asked right now; leave the message as it is."""


class SmsProvider(Protocol):
    name: str
    rate_per_second: int

    def send(self, message: OutgoingSms) -> SendResult: ...

    def find(self, *, to: str, since: dt.datetime,
             body_matches: Callable[[str], bool]) -> FoundMessage | None:
        """The message to ``to`` created since ``since`` whose body satisfies
        ``body_matches``, or None when the provider has none; raises LookupUnavailable."""
        ...
