"""The outgoing operator's signed attestations that its own notice reached subjects.

An operator that told its users of the move by a channel this service cannot see (a notice in
its own app, a letter) attests it per subject, signed with its registered Ed25519 key. Each
accepted line becomes a piece of Art. 27 notice evidence (`NoticeChannel.OPERATOR`) through
`governance.services.notice_evidence_record`, and starts that subject's notice period; the
operator's channel is kept in the evidence's reference (``in_app:<nonce>:<line>``), since the
evidence itself only knows that an operator attested it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event
from governance.models import NoticeChannel, TransferPlan
from governance.selectors import plan_notice_kinds, subjects_by_external_id
from governance.services import Evidence, GovernanceError, notice_evidence_record
from transfers.models import NoticeAttestation
from transfers.services.common import Conflict, TransferError
from transfers.services.signing import signed_bytes

NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
CHANNELS = ("in_app", "post")
MAX_LINES = 10_000
LINE_KEYS = frozenset({"external_id", "channel", "notified_at"})
PAYLOAD_KEYS = frozenset({"plan", "nonce", "signed_at", "attestations"})
# How far ahead of our clock a signature may be dated (the operator's clock drifts).
SIGNED_AHEAD = dt.timedelta(minutes=5)


def attestation_window() -> dt.timedelta:
    """How old a signed attestation may be when it arrives (as for acknowledgements)."""
    return dt.timedelta(seconds=int(getattr(settings, "TRANSFERS_ACK_MAX_AGE_SECONDS", 900)))


def _invalid(message: str) -> TransferError:
    return TransferError(message, code="invalid_attestation")


def _aware_time(value: Any, what: str) -> dt.datetime:
    """An ISO 8601 time with its UTC offset (a time without one is ambiguous by hours)."""
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(f"{what} must be an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise _invalid(f"{what} must say its UTC offset (for example +09:00 or Z)")
    return parsed


def _body(payload: bytes, plan: TransferPlan) -> dict[str, Any]:
    try:
        body = orjson.loads(payload)  # refuses nesting past 1,024 levels (no RecursionError)
    except orjson.JSONDecodeError as exc:
        raise _invalid("payload is not JSON") from exc
    if not isinstance(body, dict):
        raise _invalid("payload must be a JSON object")
    unknown = sorted(set(body) - PAYLOAD_KEYS)
    if unknown:
        raise _invalid(f"payload has keys this request does not know: {', '.join(unknown)}")
    if type(body.get("plan")) is not int or body["plan"] != plan.pk:
        raise TransferError("the attestation is for another plan", code="wrong_plan")
    nonce = body.get("nonce")
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise _invalid("nonce: 16-64 characters of [A-Za-z0-9_-]")
    signed_at = _aware_time(body.get("signed_at"), "signed_at")
    now = timezone.now()
    if signed_at < now - attestation_window() or signed_at > now + SIGNED_AHEAD:
        raise TransferError("signed_at is too far from now: sign a fresh attestation",
                            code="stale_attestation")
    lines = body.get("attestations")
    if not isinstance(lines, list) or not 1 <= len(lines) <= MAX_LINES:
        raise _invalid(f"attestations: a list of 1 to {MAX_LINES:,} lines")
    return {"nonce": nonce, "signed_at": signed_at, "lines": [
        _line(i, line) for i, line in enumerate(lines)]}


def _line(index: int, line: Any) -> tuple[str, str, dt.datetime]:
    """(external id, channel, notified at) of one line; a refusal names the line, never the
    value it holds."""
    where = f"attestations[{index}]"
    if not isinstance(line, dict) or set(line) != LINE_KEYS:
        raise _invalid(f"{where}: an object with exactly external_id, channel, notified_at")
    external_id = line["external_id"]
    if not isinstance(external_id, str) or not 1 <= len(external_id) <= 64:
        raise _invalid(f"{where}.external_id: 1-64 characters of text")
    if line["channel"] not in CHANNELS:
        raise _invalid(f"{where}.channel: one of {', '.join(CHANNELS)}")
    return external_id, line["channel"], _aware_time(line["notified_at"],
                                                     f"{where}.notified_at")


def _evidence(plan: TransferPlan, nonce: str, lines) -> list[Evidence]:
    """One piece of operator evidence per line, for the subject the source holds under that
    external id among the kinds the plan's notice concerns."""
    held = subjects_by_external_id(operator_id=plan.from_operator_id,
                                   kinds=plan_notice_kinds(plan),
                                   external_ids=sorted({ext for ext, _c, _t in lines}))
    evidence = []
    for index, (external_id, channel, notified_at) in enumerate(lines):
        subjects = held.get(external_id, [])
        if len(subjects) != 1:
            problem = ("no subject of this plan's Art. 27 notice held by this operator has "
                       "this external id") if not subjects else (
                "this external id names subjects of more than one kind")
            raise TransferError(f"attestations[{index}].external_id: {problem}",
                                code="unknown_subject" if not subjects
                                else "ambiguous_subject")
        evidence.append(Evidence(subject=subjects[0], channel=NoticeChannel.OPERATOR,
                                 notified_at=notified_at,
                                 reference=f"{channel}:{nonce}:{index}"))
    return evidence


_EVIDENCE_NUMBER = re.compile(r"^evidence #(\d+): ")


def _refusal(exc: GovernanceError) -> TransferError:
    """The governance refusal of one piece of evidence, naming the line it came from (pieces
    are numbered from 1 in line order, lines from 0)."""
    message = str(exc)
    found = _EVIDENCE_NUMBER.match(message)
    if found:
        message = (f"attestations[{int(found.group(1)) - 1}].notified_at: "
                   f"{message[found.end():]}")
    return TransferError(message, code="invalid_notified_at")


def notice_attestation_receive(*, plan: TransferPlan, payload_b64: Any, signature_b64: Any,
                               by: tuple[str, str]) -> NoticeAttestation:
    """Verify the source operator's signed attestation and record each line as notice
    evidence for its subject, all or nothing.

    ``payload`` is the exact JSON bytes the operator signed with its registered Ed25519 key:
    ``{"plan", "nonce", "signed_at", "attestations": [{"external_id", "channel",
    "notified_at"}, ...]}``. A bad signature, another plan, a stale or future ``signed_at``,
    a nonce seen before, an external id the operator does not hold under the plan's notice,
    or a ``notified_at`` in the future or before the plan was approved is refused with a
    `TransferError`, and nothing is stored.
    """
    if not plan.in_force:
        raise Conflict("the plan is not approved or active", code="plan_not_in_force")
    key, payload, signature = signed_bytes(operator=plan.from_operator,
                                           payload_b64=payload_b64,
                                           signature_b64=signature_b64, what="attestation")
    body = _body(payload, plan)
    nonce, lines = body["nonce"], body["lines"]
    evidence = _evidence(plan, nonce, lines)
    channels = dict(Counter(channel for _e, channel, _t in lines))
    subjects = len({item.subject.pk for item in evidence})
    with transaction.atomic():
        try:
            with transaction.atomic():
                attestation = NoticeAttestation.objects.create(
                    plan=plan, operator=plan.from_operator, key=key, nonce=nonce,
                    payload=payload, signature=signature, signed_at=body["signed_at"],
                    line_count=len(lines), subject_count=subjects, channel_counts=channels)
        except IntegrityError as exc:
            raise Conflict("this attestation was already received (nonce reused)",
                           code="replayed") from exc
        try:
            notice_evidence_record(plan=plan, evidence=evidence, by=by)
        except GovernanceError as exc:
            raise _refusal(exc) from exc
        audit_event(by=by, action="notice.attestation_received", target=attestation,
                    details={"plan_id": plan.pk, "lines": len(lines), "subjects": subjects,
                             "channels": channels, "key_id": key.key_id,
                             "payload_sha256": hashlib.sha256(payload).hexdigest()})
    return attestation
