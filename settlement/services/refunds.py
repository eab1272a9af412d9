"""Refund instead of moving: a user who objected asks for the balance back; the outgoing
operator refunds it and confirms with a signed statement.

The amount is always the balance of the subject's accepted record (what the operator itself
uploaded), never a figure someone types; a case, open or refunded, keeps the subject out of
every release of the plan (`settlement.selectors.refund_withheld_subject_ids`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event, looks_personal
from governance.models import DataSubject, TransferPlan
from settlement.models import RefundCase
from settlement.selectors import (
    accepted_record,
    balance_moved,
    refund_case_of,
    subject_objected,
)
from settlement.services.signing import (
    REFERENCE,
    SIGNED_AHEAD,
    aware_time,
    invalid,
    signed_payload,
    whole_number,
)
from transfers.services.common import Conflict, TransferError

CONFIRMATION_KEYS = frozenset({"plan", "case", "amount", "refunded_at", "reference", "nonce",
                               "signed_at"})


class RefundError(Conflict):
    """A refund the rules refuse; ``message`` is safe to show the user (Korean first)."""


def _record(by: tuple[str, str], action: str, case: RefundCase, details: dict[str, Any]):
    return audit_event(by=by, action=action, target=case,
                       details={"case": str(case.public_id), "plan_id": case.plan_id,
                                "subject": case.subject.public_id, **details})


def refund_case_request(*, plan: TransferPlan, subject: DataSubject, channel: str,
                        by: tuple[str, str], officer=None, reason: str = "") -> RefundCase:
    """Open a refund case for a user who objected to ``plan``: the outgoing operator owes the
    balance of the user's accepted record. Refused (`RefundError`, nothing stored) unless
    the plan is in force, the subject is a user of its outgoing operator with an accepted,
    positive balance, who objected, whose balance no release has carried, and who has no
    case yet; from a phone call, only by an officer with a reason."""
    if channel not in RefundCase.Channel.values:
        raise RefundError("알 수 없는 요청 경로입니다 (unknown channel).", code="invalid_channel")
    if channel == RefundCase.Channel.PHONE and (officer is None or not reason.strip()):
        raise RefundError("전화 요청은 담당자가 사유와 함께 기록해야 합니다 (an officer and a "
                          "reason are required).", code="officer_required")
    if not plan.in_force:
        raise RefundError("시행 중인 이전 계획이 아닙니다 (the plan is not in force).",
                          code="plan_not_in_force")
    if subject.kind != DataSubject.Kind.USER or (
            subject.source_operator_id != plan.from_operator_id):
        raise RefundError("이 계획의 상품권 이용자가 아닙니다 (not a user of this plan's "
                          "outgoing operator).", code="not_a_user")
    record = accepted_record(plan, subject)
    if record is None or not record.certificate_balance:
        raise RefundError("환불할 잔액이 수락된 기록에 없습니다 (no accepted balance to "
                          "refund).", code="no_balance")
    if not subject_objected(plan, subject):
        raise RefundError("먼저 이전을 거부하셔야 환불을 요청할 수 있습니다 (object to the move "
                          "first).", code="not_objected")
    if balance_moved(plan, subject):
        raise RefundError("잔액이 이미 새 운영사로 이전되었습니다 (the balance has already "
                          "moved).", code="already_moved")
    if refund_case_of(plan, subject) is not None:
        raise RefundError("이미 환불을 요청하셨습니다 (a refund was already requested).",
                          code="already_requested")
    try:
        with transaction.atomic():
            case = RefundCase.objects.create(
                plan=record.plan, lineage=plan.lineage, subject=subject,
                operator_id=plan.from_operator_id, amount=record.certificate_balance,
                channel=channel, reason=reason.strip(), officer=officer,
                requested_at=timezone.now())
            _record(by, "refund.requested", case, {
                "amount": case.amount, "channel": channel,
                "operator": plan.from_operator.code, "officer_recorded": officer is not None,
                "reason_chars": len(case.reason)})
    except IntegrityError as exc:  # a second tab or call got there first
        raise RefundError("이미 환불을 요청하셨습니다 (a refund was already requested).",
                          code="already_requested") from exc
    return case


def refund_case_confirm(*, plan: TransferPlan, case: RefundCase, payload_b64: Any,
                        signature_b64: Any, by: tuple[str, str]) -> RefundCase:
    """The outgoing operator's signed confirmation that it refunded ``case``.

    ``payload`` is the exact JSON bytes signed with the operator's registered Ed25519 key:
    ``{plan, case, amount, refunded_at, reference, nonce, signed_at}``. Refused, and nothing
    stored: a bad signature (400 bad_signature), another plan or case (400 wrong_plan,
    wrong_case), an amount other than the case's (400 wrong_amount), a refund dated in the
    future or before the request (400 invalid_refunded_at), a stale signature (400
    stale_confirmation), a malformed payload (400 invalid_confirmation), a nonce seen before
    (409 replayed), a case already refunded (409 already_refunded)."""
    signed = signed_payload(operator=case.operator, plan=plan, payload_b64=payload_b64,
                            signature_b64=signature_b64, keys=CONFIRMATION_KEYS,
                            what="confirmation")
    body = signed.body
    if body["case"] != str(case.public_id):
        raise TransferError("the confirmation is for another refund case", code="wrong_case")
    amount = whole_number(body["amount"], "amount", "confirmation")
    if amount != case.amount:
        raise TransferError(f"amount {amount} is not the case's amount {case.amount} (the "
                            "balance of the accepted record)", code="wrong_amount")
    refunded_at = aware_time(body["refunded_at"], "refunded_at", "confirmation")
    if refunded_at > timezone.now() + SIGNED_AHEAD or refunded_at < case.requested_at:
        raise TransferError("refunded_at must be after the request and not in the future",
                            code="invalid_refunded_at")
    reference = body["reference"]
    if not isinstance(reference, str) or not REFERENCE.fullmatch(reference) or (
            looks_personal(reference)):
        raise invalid("confirmation", "reference: 1-64 characters of [A-Za-z0-9._:/-], not a "
                                      "phone, business or resident number")
    if RefundCase.objects.filter(confirmation_nonce=signed.nonce).exists():
        raise Conflict("this confirmation was already received (nonce reused)",
                       code="replayed")
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = RefundCase.objects.filter(
                pk=case.pk, status=RefundCase.Status.REQUESTED).update(
                status=RefundCase.Status.REFUNDED, refunded_at=refunded_at,
                reference=reference, confirmation_key=signed.key,
                confirmation_nonce=signed.nonce, confirmation_payload=signed.payload,
                confirmation_signature=signed.signature, confirmed_at=now)
            if not updated:
                raise Conflict("this case was already confirmed as refunded",
                               code="already_refunded")
            case.refresh_from_db()
            _record(by, "refund.confirmed", case, {
                "amount": case.amount, "key_id": signed.key.key_id,
                "payload_sha256": hashlib.sha256(signed.payload).hexdigest(),
                "refunded_at": refunded_at.isoformat()})
    except IntegrityError as exc:
        raise Conflict("this confirmation was already received (nonce reused)",
                       code="replayed") from exc
    return case
