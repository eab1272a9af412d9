"""What the provider tells us afterwards: status callbacks (`sms_status_update`), and the
notice evidence a delivered Art. 27 LMS becomes."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event
from consent.models import ConsentRequest, SmsMessage
from consent.services.sending.common import (
    SMS_ACTOR,
    RequestStatus,
    notice_retry_schedule,
    requests_mark_sent,
)
from governance.models import NoticeChannel, TransferPlan
from governance.services import Evidence, GovernanceError, notice_evidence_record

log = logging.getLogger(__package__)  # one logger for the sending package, as before
MessageStatus = SmsMessage.Status

# Twilio's statuses, mapped onto ours with a rank: a callback only ever moves a message
# forward (callbacks come twice, and out of order). Terminal states share the top rank, so
# the first one heard stands.
_PROVIDER_STATUS = {
    "accepted": MessageStatus.SUBMITTED, "scheduled": MessageStatus.SUBMITTED,
    "queued": MessageStatus.SUBMITTED, "sending": MessageStatus.SUBMITTED,
    "sent": MessageStatus.SENT, "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED, "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED, "canceled": MessageStatus.FAILED,
}
_RANK = {MessageStatus.QUEUED: 0, MessageStatus.SENDING: 0, MessageStatus.UNKNOWN: 0,
         MessageStatus.SUBMITTED: 1, MessageStatus.SENT: 2, MessageStatus.DELIVERED: 3,
         MessageStatus.UNDELIVERED: 3, MessageStatus.FAILED: 3, MessageStatus.SKIPPED: 3}
_NOT_HEARD = (MessageStatus.SENDING, MessageStatus.UNKNOWN)
_DID_NOT_ARRIVE = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)


def sms_status_update(*, provider_sid: str, provider_status: str, reference: str = "",
                      error_code: str = "") -> SmsMessage | None:
    """Apply a status callback. Returns the message, or None when it is not ours."""
    new = _PROVIDER_STATUS.get((provider_status or "").lower())
    if new is None or not provider_sid:
        return None
    now = timezone.now()
    with transaction.atomic():
        # Locks the message and its request (not the campaign or plan every callback shares).
        rows = (SmsMessage.objects.select_for_update(of=("self", "request"))
                .select_related("request__campaign__plan", "request__subject"))
        msg = rows.filter(provider_sid=provider_sid).first()
        if msg is None and reference.isdigit():
            # The send's answer never reached us (5xx, timeout, killed worker): our id rides
            # on the callback URL, so the callback settles it.
            msg = rows.filter(pk=int(reference), provider_sid__isnull=True).first()
        if msg is None:
            return None
        if _RANK[new] <= _RANK[msg.status] and msg.provider_sid:
            return msg  # a duplicate or a late, older status: nothing moves backwards
        was = msg.status
        msg.status, msg.status_at = new, now
        msg.provider_sid = msg.provider_sid or provider_sid
        if new in _DID_NOT_ARRIVE:
            msg.error_code = (error_code or provider_status)[:32]
        msg.submitted_at = msg.submitted_at or now
        msg.save(update_fields=["status", "status_at", "provider_sid", "error_code",
                                "submitted_at"])
        _request_follow(msg, was=was, now=now)
    return msg


def _request_follow(msg: SmsMessage, *, was: str, now: dt.datetime) -> None:
    """The request follows its message's new status (and the audit trail records it)."""
    req = msg.request
    if msg.purpose == SmsMessage.Purpose.INVITATION or req.first_sent_at is None:
        if was in _NOT_HEARD and req.first_sent_at is None:
            requests_mark_sent(req.campaign, [req.pk], now)
    if msg.status == MessageStatus.DELIVERED:
        ConsentRequest.objects.filter(pk=req.pk, delivered_at__isnull=True).update(
            delivered_at=now)
        # FAILED too: a notice retried as a reminder after its first SMS failed.
        ConsentRequest.objects.filter(
            pk=req.pk, status__in=(RequestStatus.CREATED, RequestStatus.SENT,
                                   RequestStatus.FAILED)).update(status=RequestStatus.DELIVERED)
        if msg.notice_hash:
            _notice_delivered(msg, now)
    elif msg.status in _DID_NOT_ARRIVE:
        if msg.purpose == SmsMessage.Purpose.INVITATION:
            ConsentRequest.objects.filter(
                pk=req.pk, status__in=(RequestStatus.CREATED, RequestStatus.SENT)).update(
                status=RequestStatus.FAILED)
        notice_retry_schedule(req.campaign, [req.pk], now)
        audit_event(by=SMS_ACTOR, action="sms.failed", target=msg,
                    details={"request_id": req.pk, "error_code": msg.error_code})
    elif was in _NOT_HEARD:
        audit_event(by=SMS_ACTOR, action="sms.settled", target=msg,
                    details={"request_id": req.pk, "outcome": "callback", "was": was})


def _notice_delivered(msg: SmsMessage, now: dt.datetime) -> None:
    """The provider reports an LMS that carried the whole Art. 27 notice as delivered: that
    is evidence the notice reached the subject, at the time the delivery was reported.

    Recorded in the callback's transaction. A plan no longer in force (superseded,
    cancelled, completed) takes no more evidence: the delivery is logged and skipped, and
    the callback still succeeds (the provider would only retry it)."""
    request = msg.request
    plan = request.campaign.plan
    if plan.status not in TransferPlan.IN_FORCE:
        log.info("notice LMS %s delivered after plan %s left force (%s): no evidence recorded",
                 msg.pk, plan.pk, plan.status)
        return
    try:
        notice_evidence_record(plan=plan, by=SMS_ACTOR, evidence=[Evidence(
            subject=request.subject, channel=NoticeChannel.LMS, notified_at=now,
            reference=msg.provider_sid)])
    except GovernanceError as exc:
        log.warning("notice LMS %s delivered, evidence refused: %s", msg.pk, exc)
