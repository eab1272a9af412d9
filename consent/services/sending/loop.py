"""Steps 2 and 3, sending and recording, in the campaign's sending loop (`campaign_send_run`):
one loop per campaign at a time (a lease on the campaign row), paced batches, pipelined."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from audit.services import audit_event
from consent import bulk
from consent.models import Campaign, ConsentLink, ConsentRequest, SmsMessage
from consent.services.sending.callbacks import sms_status_update
from consent.services.sending.claim import Claimed, quiet_until, sms_claim
from consent.services.sending.common import (
    SMS_ACTOR,
    RequestStatus,
    claim_lease,
    notice_retry_schedule,
    requests_mark_sent,
    sending_kick,
    status_callback_url,
)
from consent.services.sending.settle import sms_settle
from consent.sms import OutgoingSms, SendOutcome, provider

MessageStatus = SmsMessage.Status
RETRY_429 = (0.5, 1.0, 2.0)  # backoff (s) before each retry of a rate-limited send


class _Pacer:
    """Paces the sending threads of one loop: at most ``rate`` sends a second."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.next_at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            # A thread that woke late may catch up, by at most a twentieth of a second (the
            # provider's own bucket allows that much burst), so scheduling hiccups do not
            # lower the rate; no more, so a pause never turns into a flood of 429s.
            at = max(self.next_at, now - 0.05)
            self.next_at = at + self.interval
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _send_one(claim: Claimed, pacer: _Pacer, with_callback: bool) -> Claimed:
    sms = provider()
    message = OutgoingSms(to=claim.to, body=claim.body, reference=str(claim.message_id),
                          status_callback=status_callback_url(claim.message_id)
                          if with_callback else "")
    for backoff in (*RETRY_429, None):
        pacer.wait()
        result = sms.send(message)
        if result.outcome is not SendOutcome.RATE_LIMITED or backoff is None:
            break
        time.sleep(backoff)
    claim.result = result
    return claim


def _record_outcomes(campaign: Campaign, claims: list[Claimed], now: dt.datetime) -> Counter:
    """Write each outcome with a conditional UPDATE; one audit event for the batch."""
    counts: Counter = Counter()
    by_outcome: dict[SendOutcome, list[Claimed]] = {}
    for claim in claims:
        counts[claim.result.outcome.value] += 1
        by_outcome.setdefault(claim.result.outcome, []).append(claim)
    accepted = by_outcome.get(SendOutcome.ACCEPTED, [])
    failed = by_outcome.get(SendOutcome.REJECTED, [])
    unknown = by_outcome.get(SendOutcome.UNKNOWN, [])
    retry = [claim for outcome, group in by_outcome.items() if outcome not in (
        SendOutcome.ACCEPTED, SendOutcome.REJECTED, SendOutcome.UNKNOWN) for claim in group]
    name = provider().name
    with transaction.atomic():
        if accepted:
            bulk.sms_mark_submitted([(c.message_id, c.result.sid) for c in accepted],
                                    provider=name, now=now)
            invited = [c.request_id for c in accepted
                       if c.purpose == SmsMessage.Purpose.INVITATION]
            if invited:
                requests_mark_sent(campaign, invited, now)
        for group, status in ((failed, MessageStatus.FAILED), (unknown, MessageStatus.UNKNOWN)):
            if group:
                bulk.sms_mark_outcome([(c.message_id, c.result.error_code) for c in group],
                                      status=status, now=now)
        if failed:
            ConsentRequest.objects.filter(
                id__in=[c.request_id for c in failed if c.purpose ==
                        SmsMessage.Purpose.INVITATION],
                status=RequestStatus.CREATED).update(status=RequestStatus.FAILED)
            notice_retry_schedule(campaign, [c.request_id for c in failed], now)
        if retry:
            _retry_later([c.message_id for c in retry], now)
        audit_event(by=SMS_ACTOR, action="sms.batch_sent", target=campaign,
                    details={"provider": name, **counts})
        for c in failed:  # matters to this one subject: their invitation did not go
            audit_event(by=SMS_ACTOR, action="sms.failed",
                        target=("consent.smsmessage", c.message_id),
                        details={"request_id": c.request_id, "error_code": c.result.error_code})
        # A provider that knows at once that a message arrived (the console provider of the
        # embedded default writes it to the outbox the reader looks at) says "delivered" in
        # its answer: that is its delivery report, applied as a status callback would be.
        for c in accepted:
            if c.result.status == "delivered":
                sms_status_update(provider_sid=c.result.sid, provider_status="delivered",
                                  reference=str(c.message_id))
    return counts


def _retry_later(message_ids: list[int], now: dt.datetime) -> None:
    """Rate-limited after every retry: nothing was sent, so the messages go back to the
    queue for later, and the links they carried are revoked."""
    later = now + dt.timedelta(seconds=RETRY_429[-1] * 2)
    links = SmsMessage.objects.filter(id__in=message_ids).values_list("link_id", flat=True)
    ConsentLink.objects.filter(id__in=list(links)).update(revoked_at=now)
    SmsMessage.objects.filter(id__in=message_ids, status=MessageStatus.SENDING).update(
        status=MessageStatus.QUEUED, not_before=later, error_code="rate_limited")


def _lease_take(campaign_id: int, owner: str, now: dt.datetime) -> bool:
    until = now + claim_lease()
    return bool(Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.RUNNING).filter(
        Q(sender_lease_until__isnull=True) | Q(sender_lease_until__lt=now)
        | Q(sender_lease_owner=owner)).update(sender_lease_owner=owner,
                                               sender_lease_until=until))


def _lease_release(campaign_id: int, owner: str) -> None:
    Campaign.objects.filter(pk=campaign_id, sender_lease_owner=owner).update(
        sender_lease_owner="", sender_lease_until=None)


@dataclass
class RunResult:
    sent: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    more: bool = False  # due messages remain: run again now
    busy: bool = False  # another loop holds the campaign
    wait_until: dt.datetime | None = None  # quiet hours, or the next message's not_before


def campaign_send_run(*, campaign_id: int, budget_seconds: float | None = 20.0,
                      owner: str | None = None) -> RunResult:
    """Send a campaign's due messages for up to ``budget_seconds`` (None: until none is due).

    Returns whether more is due, so the task can queue its successor instead of holding a
    worker for hours.
    """
    owner = owner or f"sender-{uuid.uuid4().hex[:12]}"
    result = RunResult()
    if not _lease_take(campaign_id, owner, timezone.now()):
        result.busy = Campaign.objects.filter(pk=campaign_id,
                                              status=Campaign.Status.RUNNING).exists()
        return result
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="sms-send")
    in_flight: tuple[Campaign, list] | None = None  # the batch being sent right now
    pacer, paced_rate = None, None
    try:
        sms_settle(campaign_id=campaign_id)
        sms = provider()
        with_callback = sms.name == "twilio"
        while True:
            # Pipelined: the next batch is claimed (and committed) while the previous one is
            # still going out, and the previous one is recorded while the next one goes out,
            # so the provider never waits for our database.
            campaign = Campaign.objects.select_related("plan").get(pk=campaign_id)
            now = timezone.now()
            stop = campaign.status != Campaign.Status.RUNNING
            quiet = None if stop else quiet_until(campaign, now)
            over_budget = (budget_seconds is not None
                           and time.monotonic() - started > budget_seconds)
            claims: list[Claimed] = []
            if not (stop or quiet or over_budget):
                rate = max(1, min(campaign.send_rate_per_second, sms.rate_per_second))
                if rate != paced_rate:
                    pacer, paced_rate = _Pacer(rate), rate
                batch = max(10, min(1000, rate * 2))
                claims, skipped = sms_claim(campaign=campaign, limit=batch, worker=owner,
                                            now=now)
                result.skipped.update(skipped)
                if not claims and skipped:
                    continue
            previous = in_flight
            in_flight = None
            if claims:
                in_flight = (campaign, [pool.submit(_send_one, c, pacer, with_callback)
                                        for c in claims])
            if previous is not None:
                done = [f.result() for f in previous[1]]
                result.sent.update(_record_outcomes(previous[0], done, timezone.now()))
                _lease_take(campaign_id, owner, timezone.now())
            if in_flight is not None:
                continue
            if stop:
                return result
            if quiet is not None:
                result.wait_until = quiet
                return result
            if over_budget:
                result.more = True
                return result
            result.wait_until = (SmsMessage.objects.filter(request__campaign_id=campaign_id,
                                                           status=MessageStatus.QUEUED)
                                 .aggregate(n=Min("not_before"))["n"])
            return result
    finally:
        if in_flight is not None:  # an error above: still record what went out
            done = [f.result() for f in in_flight[1]]
            _record_outcomes(in_flight[0], done, timezone.now())
        pool.shutdown(wait=True)
        _lease_release(campaign_id, owner)


def campaigns_due() -> list[int]:
    """Running campaigns with a message due now (for the periodic tick)."""
    return list(Campaign.objects.filter(
        status=Campaign.Status.RUNNING, requests__messages__status=MessageStatus.QUEUED,
        requests__messages__not_before__lte=timezone.now()).values_list("id", flat=True)
        .distinct())


def sending_kick_due() -> list[int]:
    """Queue the sending loop of every running campaign with a message due now (after quiet
    hours, or after a worker was killed). Returns their ids."""
    due = campaigns_due()
    for campaign_id in due:
        sending_kick(campaign_id=campaign_id)
    return due
