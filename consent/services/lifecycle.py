"""Reminders and expiry, run once a minute (celery beat `consent.tasks.tick`, Asia/Seoul; in
the embedded default `python manage.py consent_tick`).

Both are set-based (a few statements per campaign, whatever its size) and idempotent: a
reminder is the row (request, "reminder", n), unique, so a tick that runs twice queues it once.
One audit event per campaign and step, with counts.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from audit.services import audit_event, system_actor
from consent import bulk
from consent.models import Campaign, ConsentRequest, SmsMessage
from consent.services.sending import sending_kick_due, sms_settle
from governance.models import SubjectNotice

RequestStatus = ConsentRequest.Status
# Requests still waiting for an answer (reminders go to these only).
WAITING = (RequestStatus.CREATED, RequestStatus.SENT, RequestStatus.DELIVERED,
           RequestStatus.OPENED, RequestStatus.VERIFIED)
CHUNK = 5000
TICK_ACTOR = system_actor("consent-tick")


def _audit(action: str, campaign: Campaign, details: dict) -> None:
    audit_event(by=TICK_ACTOR, action=action, target=campaign, details=details)


def reminders_queue(*, now: dt.datetime | None = None) -> int:
    """Queue the next reminder of every request that is due one. Returns how many."""
    now = now or timezone.now()
    total = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.RUNNING,
                                            reminder_count__gt=0, expires_at__gt=now
                                            ).select_related("plan"):
        with transaction.atomic():
            due = list(_due(campaign, now).select_for_update(skip_locked=True)
                       .values_list("id", "reminders_sent"))
            if not due:
                continue
            for i in range(0, len(due), CHUNK):
                bulk.reminders_insert(due=due[i:i + CHUNK], now=now)
            last = [rid for rid, sent in due if sent + 1 >= campaign.reminder_count]
            more = [rid for rid, sent in due if sent + 1 < campaign.reminder_count]
            for ids, next_at in ((last, None),
                                 (more, now + dt.timedelta(hours=campaign.reminder_after_hours))):
                for i in range(0, len(ids), CHUNK):
                    ConsentRequest.objects.filter(id__in=ids[i:i + CHUNK]).update(
                        reminders_sent=F("reminders_sent") + 1, next_reminder_at=next_at)
            _audit("campaign.reminders_queued", campaign, {"reminders": len(due)})
            total += len(due)
    return total


def _due(campaign: Campaign, now: dt.datetime):
    """The campaign's requests due a reminder now.

    A consent campaign reminds those who have not answered. A campaign that carries the Art.
    27 notice reminds those the notice has not reached: no evidence for the subject yet
    (whatever the channel), including those whose SMS failed or was undelivered."""
    due = ConsentRequest.objects.filter(campaign=campaign, next_reminder_at__lte=now,
                                        reminders_sent__lt=campaign.reminder_count,
                                        expires_at__gt=now)
    if not campaign.carries_notice:
        return due.filter(status__in=WAITING)
    reached = SubjectNotice.objects.filter(lineage=campaign.plan.lineage,
                                           subject_id=OuterRef("subject_id"))
    return due.filter(status__in=WAITING + (RequestStatus.FAILED,)).exclude(Exists(reached))


def requests_expire(*, now: dt.datetime | None = None) -> int:
    """Past their deadline: unanswered requests expire, their queued SMS are skipped, and
    campaigns past theirs complete."""
    now = now or timezone.now()
    total = 0
    for campaign in Campaign.objects.filter(
            status__in=(Campaign.Status.RUNNING, Campaign.Status.PAUSED)):
        with transaction.atomic():
            expired = ConsentRequest.objects.filter(
                campaign=campaign, status__in=WAITING + (RequestStatus.FAILED,),
                expires_at__lte=now).update(status=RequestStatus.EXPIRED, next_reminder_at=None)
            skipped = SmsMessage.objects.filter(
                request__campaign=campaign, status=SmsMessage.Status.QUEUED,
                request__status=RequestStatus.EXPIRED).update(status=SmsMessage.Status.SKIPPED,
                                                  error_code="expired", status_at=now)
            finished = campaign.expires_at <= now and bool(Campaign.objects.filter(
                pk=campaign.pk, status=campaign.status).update(
                status=Campaign.Status.COMPLETED, finished_at=now))
            if expired or skipped or finished:
                _audit("campaign.requests_expired", campaign,
                       {"requests": expired, "messages_skipped": skipped,
                        "campaign_completed": finished})
            total += expired
    return total


def consent_tick(*, now: dt.datetime | None = None) -> dict:
    """One round of the periodic work (reminders, expiry, settling unknown sends, and
    forgetting one-time codes of the way back in once no limit counts them)."""
    from consent.services.returning import return_codes_prune

    now = now or timezone.now()
    expired = requests_expire(now=now)
    reminders = reminders_queue(now=now)
    settled = sms_settle(now=now)
    pruned = return_codes_prune(now=now)
    return {"expired": expired, "reminders": reminders, "settled": dict(settled),
            "return_codes_pruned": pruned}


def consent_tick_and_send(*, now: dt.datetime | None = None) -> dict:
    """`consent_tick`, then the sending loop of every running campaign with a message due is
    queued (on commit): what the periodic task does each minute."""
    summary = consent_tick(now=now)
    sending_kick_due()
    return summary
