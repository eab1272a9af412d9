"""Signed submissions of the declaring parties (refund confirmations, declared totals,
balance lists, statement signatures): the exact bytes a party signed with its registered
Ed25519 signature key, as `transfers.services.acknowledgements` and `attestations` take them.

Every refusal is a `TransferError` (its HTTP status and code), raised before anything is
stored; the nonce each payload carries is stored unique by the caller, so a replay is refused
by the database (409 `replayed`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from governance.models import Operator, OperatorKey, TransferPlan
from transfers.services.common import TransferError
from transfers.services.signing import signed_bytes

NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
REFERENCE = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
# How far ahead of our clock a signature may be dated (the operator's clock drifts).
SIGNED_AHEAD = dt.timedelta(minutes=5)


def signed_window() -> dt.timedelta:
    """How old a signed submission may be when it arrives (as for acknowledgements)."""
    return dt.timedelta(seconds=int(getattr(settings, "TRANSFERS_ACK_MAX_AGE_SECONDS", 900)))


@dataclass(frozen=True)
class Signed:
    key: OperatorKey
    payload: bytes
    signature: bytes
    body: dict[str, Any]
    nonce: str
    signed_at: dt.datetime


def invalid(what: str, message: str) -> TransferError:
    return TransferError(message, code=f"invalid_{what}")


def aware_time(value: Any, name: str, what: str) -> dt.datetime:
    """An ISO 8601 time with its UTC offset (a time without one is ambiguous by hours)."""
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid(what, f"{name} must be an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise invalid(what, f"{name} must say its UTC offset (for example +09:00 or Z)")
    return parsed


def signed_payload(*, operator: Operator, plan: TransferPlan, payload_b64: Any,
                   signature_b64: Any, keys: frozenset[str], what: str) -> Signed:
    """The verified, parsed payload: signed by ``operator``'s current signature key, a JSON
    object with exactly ``keys`` (among them plan, nonce, signed_at), for ``plan``, signed
    within the window. ``what`` names the submission in refusal codes (invalid_<what>,
    stale_<what>)."""
    key, payload, signature = signed_bytes(operator=operator, payload_b64=payload_b64,
                                           signature_b64=signature_b64, what=what)
    try:
        body = orjson.loads(payload)  # no NaN, bounded nesting, no lone surrogates
    except orjson.JSONDecodeError as exc:
        raise invalid(what, "payload is not JSON") from exc
    if not isinstance(body, dict):
        raise invalid(what, "payload must be a JSON object")
    if set(body) != keys:
        missing, unknown = sorted(keys - set(body)), sorted(set(body) - keys)
        raise invalid(what, "payload keys: " + "; ".join(
            part for part in (f"missing {', '.join(missing)}" if missing else "",
                              f"unknown {', '.join(unknown)}" if unknown else "") if part))
    if type(body["plan"]) is not int or body["plan"] != plan.pk:
        raise TransferError("the payload is for another plan", code="wrong_plan")
    nonce = body["nonce"]
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise invalid(what, "nonce: 16-64 characters of [A-Za-z0-9_-]")
    signed_at = aware_time(body["signed_at"], "signed_at", what)
    now = timezone.now()
    if signed_at < now - signed_window() or signed_at > now + SIGNED_AHEAD:
        raise TransferError("signed_at is too far from now: sign it afresh",
                            code=f"stale_{what}")
    return Signed(key, payload, signature, body, nonce, signed_at)


def whole_number(value: Any, name: str, what: str, *, maximum: int = 2**63 - 1) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise invalid(what, f"{name} must be a whole number from 0 to {maximum}")
    return value
