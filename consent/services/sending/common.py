"""What every step of sending shares: the claim lease, the requests that get no more SMS, the
audit actor, and the request-side marks (sent, notice retried) each outcome may set."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from audit.services import system_actor
from consent.models import Campaign, ConsentRequest
from core.tasks import enqueue_on_commit

RequestStatus = ConsentRequest.Status
# A request in one of these gets no further SMS.
NO_MORE_SMS = (RequestStatus.ANSWERED, RequestStatus.EXPIRED, RequestStatus.CANCELLED,
               RequestStatus.OPTED_OUT)
SMS_ACTOR = system_actor("sms")


def claim_lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.SMS_CLAIM_LEASE_SECONDS)


def status_callback_url(message_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}/sms/twilio/status?m={message_id}"


def sending_kick(*, campaign_id: int) -> None:
    """Queue the campaign's sending loop once the current transaction commits."""
    # The task itself, not its name: importing it registers it (the tasks module imports
    # the services, hence here, not at the top).
    from consent.tasks import send_campaign

    enqueue_on_commit(send_campaign, campaign_id)


def notice_retry_schedule(campaign: Campaign, request_ids: list[int],
                          now: dt.datetime) -> None:
    """A notice that did not reach its subject is tried again as the campaign's next
    reminder: requests with reminders left and none scheduled (their first SMS was refused,
    so it was never "sent") get one after the campaign's interval."""
    if not campaign.carries_notice or not request_ids:
        return
    ConsentRequest.objects.filter(
        id__in=request_ids, next_reminder_at__isnull=True,
        reminders_sent__lt=campaign.reminder_count).exclude(status__in=NO_MORE_SMS).update(
        next_reminder_at=now + dt.timedelta(hours=campaign.reminder_after_hours))


def requests_mark_sent(campaign: Campaign, request_ids: list[int], now: dt.datetime) -> None:
    """The requests' first SMS went: dated, their first reminder scheduled, and ``created``
    ones move to ``sent``."""
    next_at = (now + dt.timedelta(hours=campaign.reminder_after_hours)
               if campaign.reminder_count else None)
    ConsentRequest.objects.filter(id__in=request_ids, first_sent_at__isnull=True).update(
        first_sent_at=now, next_reminder_at=next_at)
    ConsentRequest.objects.filter(id__in=request_ids, status=RequestStatus.CREATED).update(
        status=RequestStatus.SENT)
