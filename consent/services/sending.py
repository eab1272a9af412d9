"""Sending SMS exactly once, in paced batches.

The life of one message (``SmsMessage.status``)::

    queued --claim--> sending --provider accepted--> submitted -> sent -> delivered
                         |  \\--429 (after retries)--> queued (later; nothing was sent)
                         |   \\--4xx--> failed
                         \\--5xx / timeout / worker killed--> unknown --settle--> submitted | queued

1. **Claim** (one transaction, committed before any provider call): the batch's rows are
   locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` and moved ``queued -> sending`` with the
   attempt counted, a fresh link issued (its token hash stored, the token kept only in memory)
   and the redacted body recorded. Two workers never claim the same row, and a row that was
   claimed is never claimed again by the normal path.
2. **Send**, paced to the campaign's rate cap and the provider's rate (a token bucket shared
   by the batch's threads). A 429 is retried with exponential backoff; nothing else is retried.
3. **Record** each outcome with a conditional UPDATE (only a row still ``sending`` changes, so
   a status callback that arrived first is never overwritten).

**Settling what we never heard** (`sms_settle`): a row left ``sending`` past the claim lease
(the worker died) or ``unknown`` (5xx, timeout) is looked up at the provider: it lists the
messages sent to that number since the claim and compares the SHA-256 of the token in each
body with the hash of the link this row carried (``SmsMessage.link``) — our own idempotency
reference, since Twilio keeps no client reference. Found: ``submitted`` with its sid. Not
found, and the claim is older than the lease (so no request of ours can still be in flight):
back to ``queued`` — sent again, once, with a new link. The status callback (whose URL
carries our message id) settles it as well, whichever comes first. If the provider cannot be
asked, the row stays ``unknown`` and shows in the admin.

One sending loop per campaign runs at a time (a lease on the campaign row), so the rate cap
holds however many workers there are. Quiet hours (Asia/Seoul) are checked before each claim:
messages wait, they are not dropped.

**The Art. 27 notice by LMS.** A campaign that carries the notice (`Campaign.carries_notice`)
sends the notice itself (`sms_text.notice_body`) and stores with each message the hash of the
notice version it summarises. When the provider reports such a message ``delivered`` (the
status callback; the console provider in its answer), the delivery is notice evidence for
that subject (`governance.services.notice_evidence_record`, channel ``lms``, dated when the
delivery was reported), in the same transaction. A notice that failed or was undelivered is
tried again as the campaign's next reminder (`consent.services.lifecycle`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
import uuid
import zoneinfo
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from audit.services import audit_record
from consent import sms_text
from consent.models import Campaign, ConsentLink, ConsentRequest, Notice, SmsMessage, SmsOptOut
from consent.notices import notice_current, notice_items
from consent.sms import OutgoingSms, SendOutcome, SendResult, provider
from consent.sms.base import LookupUnavailable
from consent.tokens import TOKEN_BYTES, link_url, token_hash
from governance.crypto import InvalidPhone, normalize_mobile
from governance.models import DataSubject, NoticeChannel, TransferPlan
from governance.services import Evidence, GovernanceError, notice_evidence_record

log = logging.getLogger(__name__)
SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")
S = SmsMessage.Status
R = ConsentRequest.Status
# A request in one of these gets no further SMS.
NO_MORE_SMS = (R.ANSWERED, R.EXPIRED, R.CANCELLED, R.OPTED_OUT)
RETRY_429 = (0.5, 1.0, 2.0)  # backoff (s) before each retry of a rate-limited send
_TOKEN_IN_BODY = re.compile(r"/c/([A-Za-z0-9_-]{22})")
SMS_ACTOR = ("system", "system:sms")


def claim_lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.SMS_CLAIM_LEASE_SECONDS)


def status_callback_url(message_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}/sms/twilio/status?m={message_id}"


# --- quiet hours ---------------------------------------------------------------------------


def quiet_until(campaign: Campaign, now: dt.datetime) -> dt.datetime | None:
    """When the quiet hours that ``now`` falls in end (Asia/Seoul), or None outside them."""
    start, end = campaign.quiet_from_hour, campaign.quiet_until_hour
    if start == end:
        return None
    local = now.astimezone(SEOUL)
    hour = local.hour
    inside = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not inside:
        return None
    day = local.date() if hour < end else local.date() + dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, end, tzinfo=SEOUL)


# --- claiming ------------------------------------------------------------------------------


@dataclass
class Claimed:
    message_id: int
    request_id: int
    purpose: str
    to: str
    body: str = field(repr=False)  # carries the live token: never stored, never logged
    result: SendResult | None = None


def sms_claim(*, campaign: Campaign, limit: int, worker: str,
              now: dt.datetime | None = None) -> tuple[list[Claimed], Counter]:
    """Claim up to ``limit`` due messages of ``campaign`` (see the module docstring)."""
    now = now or timezone.now()
    skipped: Counter = Counter()
    with transaction.atomic():
        rows = list(
            SmsMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(request__campaign_id=campaign.pk, status=S.QUEUED, not_before__lte=now)
            .order_by("id")
            .values_list("id", "request_id", "purpose", "request__status",
                         "request__subject__phone", "request__subject__phone_index",
                         "request__expires_at", "request__subject__kind")[:limit])
        if not rows:
            return [], skipped
        opted_out = set(SmsOptOut.objects.filter(
            phone_index__in={r[5] for r in rows if r[5]}).values_list("phone_index", flat=True))
        # A notice campaign's SMS is the Art. 27 notice itself; each row keeps the hash of
        # the notice version it summarises (its delivery is then evidence of that notice).
        notice, facts = _campaign_notice(campaign)
        consent = campaign_consent_facts(campaign) if facts is None else None
        claims, links, skip = [], [], {}
        for mid, rid, purpose, rstatus, phone, pindex, expires_at, _kind in rows:
            if rstatus in NO_MORE_SMS or expires_at <= now:
                skip[mid] = "request_closed"
                continue
            if pindex in opted_out:
                skip[mid] = "opted_out"
                continue
            try:
                to = normalize_mobile(phone) if phone else ""
            except InvalidPhone:
                to = ""
            if not to:
                skip[mid] = "no_mobile"
                continue
            token = secrets.token_urlsafe(TOKEN_BYTES)
            reminder = purpose == SmsMessage.Purpose.REMINDER
            if facts is not None:
                body = sms_text.notice_body(facts=facts, url=link_url(token), reminder=reminder)
            else:
                body = sms_text.sms_body(url=link_url(token), reminder=reminder,
                                         consent=consent)
            links.append(ConsentLink(request_id=rid, token_hash=token_hash(token),
                                     expires_at=expires_at, created_at=now))
            claims.append((Claimed(mid, rid, purpose, to, body), sms_text.redact(body, token)))
        for code in set(skip.values()):
            ids = [m for m, c in skip.items() if c == code]
            SmsMessage.objects.filter(id__in=ids, status=S.QUEUED).update(
                status=S.SKIPPED, error_code=code, status_at=now)
            skipped[code] += len(ids)
        ConsentLink.objects.bulk_create(links)
        if links and links[0].pk is None:  # a backend that returns no ids
            by_hash = dict(ConsentLink.objects.filter(
                token_hash__in=[lk.token_hash for lk in links]).values_list("token_hash", "id"))
            for lk in links:
                lk.pk = by_hash[lk.token_hash]
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE consent_smsmessage SET status = %s, attempts = attempts + 1,"
                " claimed_by = %s, claimed_at = %s, link_id = %s, body_redacted = %s,"
                " provider = %s, notice_id = %s, notice_hash = %s WHERE id = %s AND status = %s",
                [(S.SENDING, worker[:64], adapt(now), lk.pk, redacted, provider().name,
                  notice.pk if notice else None, notice.text_hash if notice else "",
                  c.message_id, S.QUEUED) for (c, redacted), lk in zip(claims, links,
                                                                        strict=True)])
    return [c for c, _ in claims], skipped


def _notice_only(campaign: Campaign) -> bool:
    """True when the campaign asks about Art. 27 notice items only (nothing to consent to):
    its SMS carry the notice itself. Decided when the campaign was created."""
    return campaign.carries_notice


_SUBJECT_NOUN = {DataSubject.Kind.MERCHANT: "가맹점주님", DataSubject.Kind.USER: "이용자님"}


def notice_facts(*, plan: TransferPlan, subject_kind: str) -> sms_text.NoticeFacts:
    """What the Art. 27 notice LMS of ``plan`` tells subjects of ``subject_kind``: the items
    are the plan's `notice_opt_out` fields of that kind, as in the notice page's text."""
    to, source = plan.to_operator, plan.from_operator
    items = notice_items(plan=plan, subject_kind=subject_kind, kind=Notice.Kind.TRANSFER)
    return sms_text.NoticeFacts(
        recipient=to.name, recipient_contact=" / ".join(p for p in (to.address, to.phone) if p),
        source=source.name, subject_noun=_SUBJECT_NOUN.get(subject_kind, "정보주체님"),
        items=tuple(item.label for item in items), period_days=plan.notice_period_days,
        cutover_at=plan.cutover_at, call_centre=settings.CALL_CENTRE_PHONE,
        controller=plan.controller.name if plan.controller_id else "")


def _campaign_notice(campaign: Campaign) -> tuple[Notice | None, sms_text.NoticeFacts | None]:
    if not _notice_only(campaign):
        return None, None
    plan = campaign.plan
    notice = notice_current(plan=plan, subject_kind=campaign.subject_kind,
                            kind=Notice.Kind.TRANSFER)
    return notice, notice_facts(plan=plan, subject_kind=campaign.subject_kind)


def campaign_consent_facts(campaign: Campaign) -> sms_text.ConsentFacts:
    """What a consent campaign's SMS states: the recipient and the required consent items it
    asks about (a reply of 동의/거부 answers those only; see consent.services.replies)."""
    asked = set(campaign.items or ())
    items = notice_items(plan=campaign.plan, subject_kind=campaign.subject_kind,
                         kind=Notice.Kind.CONSENT)
    return sms_text.ConsentFacts(
        recipient=campaign.plan.to_operator.name,
        required=tuple(i.label for i in items if i.required and (not asked or i.key in asked)))


def campaign_longest_sms(*, campaign: Campaign) -> int:
    """The cp949 size of the longest SMS ``campaign`` can send (an invitation or a reminder
    with a personal link); raises `sms_text.UnsendableText` for a character the carriers
    cannot carry."""
    facts = (notice_facts(plan=campaign.plan, subject_kind=campaign.subject_kind)
             if _notice_only(campaign) else None)
    url_length = len(link_url(secrets.token_urlsafe(TOKEN_BYTES)))
    consent = campaign_consent_facts(campaign) if facts is None else None
    return sms_text.longest_body_bytes(facts=facts, url_length=url_length,
                                       base_url=settings.PUBLIC_BASE_URL, consent=consent)


# --- sending -------------------------------------------------------------------------------


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
    adapt = connection.ops.adapt_datetimefield_value
    accepted, failed, unknown, retry = [], [], [], []
    for c in claims:
        outcome = c.result.outcome
        counts[outcome.value] += 1
        if outcome is SendOutcome.ACCEPTED:
            accepted.append(c)
        elif outcome is SendOutcome.REJECTED:
            failed.append(c)
        elif outcome is SendOutcome.UNKNOWN:
            unknown.append(c)
        else:
            retry.append(c)
    name = provider().name
    with transaction.atomic(), connection.cursor() as cursor:
        if accepted:
            cursor.executemany(
                "UPDATE consent_smsmessage SET status = %s, provider_sid = %s, provider = %s,"
                " submitted_at = %s, status_at = %s WHERE id = %s AND status IN (%s, %s)",
                [(S.SUBMITTED, c.result.sid, name, adapt(now), adapt(now), c.message_id,
                  S.SENDING, S.UNKNOWN) for c in accepted])
            invited = [c.request_id for c in accepted
                       if c.purpose == SmsMessage.Purpose.INVITATION]
            if invited:
                _mark_requests_sent(campaign, invited, now)
        for group, status in ((failed, S.FAILED), (unknown, S.UNKNOWN)):
            if group:
                cursor.executemany(
                    "UPDATE consent_smsmessage SET status = %s, error_code = %s, status_at = %s"
                    " WHERE id = %s AND status = %s",
                    [(status, c.result.error_code[:32], adapt(now), c.message_id, S.SENDING)
                     for c in group])
        if failed:
            ConsentRequest.objects.filter(
                id__in=[c.request_id for c in failed if c.purpose ==
                        SmsMessage.Purpose.INVITATION],
                status=R.CREATED).update(status=R.FAILED)
            _notice_retry_schedule(campaign, [c.request_id for c in failed], now)
        if retry:
            later = now + dt.timedelta(seconds=RETRY_429[-1] * 2)
            ids = [c.message_id for c in retry]
            links = SmsMessage.objects.filter(id__in=ids).values_list("link_id", flat=True)
            ConsentLink.objects.filter(id__in=list(links)).update(revoked_at=now)
            SmsMessage.objects.filter(id__in=ids, status=S.SENDING).update(
                status=S.QUEUED, not_before=later, error_code="rate_limited")
        audit_record(actor_type="system", actor_id="system:sms", action="sms.batch_sent",
                     target_type="consent.campaign", target_id=campaign.pk,
                     details={"provider": name, **counts})
        for c in failed:  # matters to this one subject: their invitation did not go
            audit_record(actor_type="system", actor_id="system:sms", action="sms.failed",
                         target_type="consent.smsmessage", target_id=c.message_id,
                         details={"request_id": c.request_id,
                                  "error_code": c.result.error_code})
        # A provider that knows at once that a message arrived (the console provider of the
        # embedded default writes it to the outbox the reader looks at) says "delivered" in
        # its answer: that is its delivery report, applied as a status callback would be.
        for c in accepted:
            if c.result.status == "delivered":
                sms_status_update(provider_sid=c.result.sid, provider_status="delivered",
                                  reference=str(c.message_id))
    return counts


def _notice_retry_schedule(campaign: Campaign, request_ids: list[int],
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


def _mark_requests_sent(campaign: Campaign, request_ids: list[int], now: dt.datetime) -> None:
    next_at = (now + dt.timedelta(hours=campaign.reminder_after_hours)
               if campaign.reminder_count else None)
    ConsentRequest.objects.filter(id__in=request_ids, first_sent_at__isnull=True).update(
        first_sent_at=now, next_reminder_at=next_at)
    ConsentRequest.objects.filter(id__in=request_ids, status=R.CREATED).update(status=R.SENT)


# --- the sending loop ----------------------------------------------------------------------


def _lease_take(campaign_id: int, owner: str, now: dt.datetime) -> bool:
    from django.db.models import Q

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
                                                           status=S.QUEUED)
                                 .aggregate(n=Min("not_before"))["n"])
            return result
    finally:
        if in_flight is not None:  # an error above: still record what went out
            done = [f.result() for f in in_flight[1]]
            _record_outcomes(in_flight[0], done, timezone.now())
        pool.shutdown(wait=True)
        _lease_release(campaign_id, owner)


def sending_kick(*, campaign_id: int) -> None:
    """Queue the campaign's sending loop once the current transaction commits."""
    from consent.tasks import enqueue, send_campaign

    transaction.on_commit(lambda: enqueue(send_campaign, campaign_id))


# --- settling what we never heard ----------------------------------------------------------


def _body_carries(link_hash: str):
    def matches(body: str) -> bool:
        return any(token_hash(t) == link_hash for t in _TOKEN_IN_BODY.findall(body))
    return matches


def sms_settle(*, campaign_id: int | None = None, now: dt.datetime | None = None,
               limit: int = 500) -> Counter:
    """Settle messages left ``sending`` past the lease, or ``unknown`` (module docstring)."""
    now = now or timezone.now()
    stale = now - claim_lease()
    rows = SmsMessage.objects.filter(status__in=(S.SENDING, S.UNKNOWN), claimed_at__lt=stale)
    if campaign_id is not None:
        rows = rows.filter(request__campaign_id=campaign_id)
    counts: Counter = Counter()
    sms = provider()
    adapt = connection.ops.adapt_datetimefield_value
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
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE consent_smsmessage SET status = %s, provider_sid = %s,"
                        " submitted_at = %s, status_at = %s WHERE id = %s AND status IN (%s, %s)"
                        " AND provider_sid IS NULL",
                        [S.SUBMITTED, found.sid, adapt(now), adapt(now), msg.pk, S.SENDING,
                         S.UNKNOWN])
                    changed = cursor.rowcount
                if changed and msg.purpose == SmsMessage.Purpose.INVITATION:
                    _mark_requests_sent(msg.request.campaign, [msg.request_id], now)
                if changed and found.status == "delivered":  # it arrived already: as a callback
                    sms_status_update(provider_sid=found.sid, provider_status="delivered")
                counts["found"] += changed
            else:
                changed = SmsMessage.objects.filter(
                    pk=msg.pk, status__in=(S.SENDING, S.UNKNOWN), provider_sid__isnull=True
                ).update(status=S.QUEUED, not_before=now, error_code="settled_not_sent")
                if msg.link_id:
                    ConsentLink.objects.filter(pk=msg.link_id).update(revoked_at=now)
                counts["requeued"] += changed
            if changed:
                audit_record(actor_type="system", actor_id="system:sms", action="sms.settled",
                             target_type="consent.smsmessage", target_id=msg.pk,
                             details={"request_id": msg.request_id,
                                      "outcome": "found" if found else "requeued",
                                      "was": msg.status})
    return counts


def sms_resend_failed(*, campaign: Campaign, by) -> int:
    """An officer's decision: a new message for each request whose last message failed or
    was undelivered (or stayed unknown after settling). Returns how many were queued."""
    from django.db.models import Max

    from audit.services import officer_actor

    now = timezone.now()
    with transaction.atomic():
        latest = (SmsMessage.objects.filter(request__campaign=campaign)
                  .exclude(request__status__in=NO_MORE_SMS)
                  .values("request_id").annotate(last=Max("id")))
        last_ids = [row["last"] for row in latest]
        bad = list(SmsMessage.objects.filter(
            id__in=last_ids, status__in=(S.FAILED, S.UNDELIVERED, S.UNKNOWN))
            .values_list("request_id", flat=True))
        sequences = dict(SmsMessage.objects.filter(
            request_id__in=bad, purpose=SmsMessage.Purpose.RESEND)
            .values("request_id").annotate(n=Max("sequence")).values_list("request_id", "n"))
        SmsMessage.objects.bulk_create([
            SmsMessage(request_id=rid, purpose=SmsMessage.Purpose.RESEND,
                       sequence=sequences.get(rid, 0) + 1, not_before=now)
            for rid in bad])
        actor_type, actor_id = officer_actor(by)
        audit_record(actor_type=actor_type, actor_id=actor_id, action="sms.resend_queued",
                     target_type="consent.campaign", target_id=campaign.pk,
                     details={"messages": len(bad)})
        if bad and campaign.status == Campaign.Status.RUNNING:
            sending_kick(campaign_id=campaign.pk)
    return len(bad)


def campaigns_due() -> list[int]:
    """Running campaigns with a message due now (for the periodic tick)."""
    return list(Campaign.objects.filter(
        status=Campaign.Status.RUNNING, requests__messages__status=S.QUEUED,
        requests__messages__not_before__lte=timezone.now()).values_list("id", flat=True)
        .distinct())



# --- status callbacks ----------------------------------------------------------------------

# Twilio's statuses, mapped onto ours with a rank: a callback only ever moves a message
# forward (callbacks come twice, and out of order). Terminal states share the top rank, so
# the first one heard stands.
_PROVIDER_STATUS = {
    "accepted": S.SUBMITTED, "scheduled": S.SUBMITTED, "queued": S.SUBMITTED,
    "sending": S.SUBMITTED, "sent": S.SENT, "delivered": S.DELIVERED, "read": S.DELIVERED,
    "undelivered": S.UNDELIVERED, "failed": S.FAILED, "canceled": S.FAILED,
}
_RANK = {S.QUEUED: 0, S.SENDING: 0, S.UNKNOWN: 0, S.SUBMITTED: 1, S.SENT: 2,
         S.DELIVERED: 3, S.UNDELIVERED: 3, S.FAILED: 3, S.SKIPPED: 3}


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
        if new in (S.FAILED, S.UNDELIVERED):
            msg.error_code = (error_code or provider_status)[:32]
        msg.submitted_at = msg.submitted_at or now
        msg.save(update_fields=["status", "status_at", "provider_sid", "error_code",
                                "submitted_at"])
        req = msg.request
        if msg.purpose == SmsMessage.Purpose.INVITATION or req.first_sent_at is None:
            if was in (S.SENDING, S.UNKNOWN) and req.first_sent_at is None:
                _mark_requests_sent(req.campaign, [req.pk], now)
        if new == S.DELIVERED:
            ConsentRequest.objects.filter(pk=req.pk, delivered_at__isnull=True).update(
                delivered_at=now)
            # FAILED too: a notice retried as a reminder after its first SMS failed.
            ConsentRequest.objects.filter(
                pk=req.pk, status__in=(R.CREATED, R.SENT, R.FAILED)).update(status=R.DELIVERED)
            if msg.notice_hash:
                _notice_delivered(msg, now)
        elif new in (S.FAILED, S.UNDELIVERED):
            if msg.purpose == SmsMessage.Purpose.INVITATION:
                ConsentRequest.objects.filter(pk=req.pk, status__in=(R.CREATED, R.SENT)).update(
                    status=R.FAILED)
            _notice_retry_schedule(req.campaign, [req.pk], now)
            audit_record(actor_type="system", actor_id="system:sms", action="sms.failed",
                         target_type="consent.smsmessage", target_id=msg.pk,
                         details={"request_id": req.pk, "error_code": msg.error_code})
        elif was in (S.SENDING, S.UNKNOWN):
            audit_record(actor_type="system", actor_id="system:sms", action="sms.settled",
                         target_type="consent.smsmessage", target_id=msg.pk,
                         details={"request_id": req.pk, "outcome": "callback", "was": was})
    return msg


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
