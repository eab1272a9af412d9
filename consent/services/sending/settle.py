"""Settling what we never heard (`sms_settle`), and an officer's resend of what failed
(`sms_resend_failed`)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_event
from consent import bulk
from consent.models import Campaign, ConsentLink, SmsMessage
from consent.services.sending.callbacks import sms_status_update
from consent.services.sending.common import (
    NO_MORE_SMS,
    SMS_ACTOR,
    claim_lease,
    requests_mark_sent,
    sending_kick,
)
from consent.sms import provider
from consent.sms.base import LookupUnavailable
from consent.tokens import token_hash
from governance.crypto import InvalidPhone, normalize_mobile

MessageStatus = SmsMessage.Status
_TOKEN_IN_BODY = re.compile(r"/c/([A-Za-z0-9_-]{22})")
_NOT_HEARD = (MessageStatus.SENDING, MessageStatus.UNKNOWN)


def _body_carries(link_hash: str):
    def matches(body: str) -> bool:
        return any(token_hash(t) == link_hash for t in _TOKEN_IN_BODY.findall(body))
    return matches


def sms_settle(*, campaign_id: int | None = None, now: dt.datetime | None = None,
               limit: int = 500) -> Counter:
    """Settle messages left ``sending`` past the lease, or ``unknown`` (package docstring)."""
    now = now or timezone.now()
    stale = now - claim_lease()
    rows = SmsMessage.objects.filter(status__in=_NOT_HEARD, claimed_at__lt=stale)
    if campaign_id is not None:
        rows = rows.filter(request__campaign_id=campaign_id)
    counts: Counter = Counter()
    sms = provider()
    for msg in rows.select_related("request__subject", "link").order_by("id")[:limit]:
        try:
            to = normalize_mobile(msg.request.subject.phone)
        except InvalidPhone:
            to = ""
        found = None
        if to and msg.link is not None:
            try:
                found = sms.find(to=to, since=msg.claimed_at,
                                 body_matches=_body_carries(msg.link.token_hash))
            except LookupUnavailable:
                counts["lookup_unavailable"] += 1
                continue
        with transaction.atomic():
            if found is not None:
                changed = bulk.sms_mark_found(message_id=msg.pk, provider_sid=found.sid, now=now)
                if changed and msg.purpose == SmsMessage.Purpose.INVITATION:
                    requests_mark_sent(msg.request.campaign, [msg.request_id], now)
                if changed and found.status == "delivered":  # it arrived already: as a callback
                    sms_status_update(provider_sid=found.sid, provider_status="delivered")
                counts["found"] += changed
            else:
                changed = SmsMessage.objects.filter(
                    pk=msg.pk, status__in=_NOT_HEARD, provider_sid__isnull=True
                ).update(status=MessageStatus.QUEUED, not_before=now,
                         error_code="settled_not_sent")
                if msg.link_id:
                    ConsentLink.objects.filter(pk=msg.link_id).update(revoked_at=now)
                counts["requeued"] += changed
            if changed:
                audit_event(by=SMS_ACTOR, action="sms.settled", target=msg,
                            details={"request_id": msg.request_id,
                                     "outcome": "found" if found else "requeued",
                                     "was": msg.status})
    return counts


def sms_resend_failed(*, campaign: Campaign, by) -> int:
    """An officer's decision: a new message for each request whose last message failed or
    was undelivered (or stayed unknown after settling). Returns how many were queued."""
    now = timezone.now()
    with transaction.atomic():
        latest = (SmsMessage.objects.filter(request__campaign=campaign)
                  .exclude(request__status__in=NO_MORE_SMS)
                  .values("request_id").annotate(last=Max("id")))
        last_ids = [row["last"] for row in latest]
        bad = list(SmsMessage.objects.filter(
            id__in=last_ids, status__in=(MessageStatus.FAILED, MessageStatus.UNDELIVERED,
                                         MessageStatus.UNKNOWN))
            .values_list("request_id", flat=True))
        sequences = dict(SmsMessage.objects.filter(
            request_id__in=bad, purpose=SmsMessage.Purpose.RESEND)
            .values("request_id").annotate(n=Max("sequence")).values_list("request_id", "n"))
        SmsMessage.objects.bulk_create([
            SmsMessage(request_id=request_id, purpose=SmsMessage.Purpose.RESEND,
                       sequence=sequences.get(request_id, 0) + 1, not_before=now)
            for request_id in bad])
        audit_event(by=by, action="sms.resend_queued", target=campaign,
                    details={"messages": len(bad)})
        if bad and campaign.status == Campaign.Status.RUNNING:
            sending_kick(campaign_id=campaign.pk)
    return len(bad)
