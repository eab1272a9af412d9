"""Step 1, claiming: which messages are due, what each says, and taking them exactly once
(`sms_claim`); quiet hours; the facts a campaign's SMS states."""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent import bulk, sms_text
from consent.models import Campaign, ConsentLink, Notice, SmsMessage, SmsOptOut
from consent.notices import notice_current, notice_items
from consent.services.sending.common import NO_MORE_SMS
from consent.sms import SendResult, provider
from consent.tokens import TOKEN_BYTES, link_url, token_hash
from governance.crypto import InvalidPhone, normalize_mobile
from governance.models import DataSubject, TransferPlan

SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")
MessageStatus = SmsMessage.Status


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
    """Claim up to ``limit`` due messages of ``campaign`` (see the package docstring)."""
    now = now or timezone.now()
    skipped: Counter = Counter()
    with transaction.atomic():
        rows = list(
            SmsMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(request__campaign_id=campaign.pk, status=MessageStatus.QUEUED,
                    not_before__lte=now)
            .order_by("id")
            .values_list("id", "request_id", "purpose", "request__status",
                         "request__subject__phone", "request__subject__phone_index",
                         "request__expires_at", "request__subject__kind")[:limit])
        if not rows:
            return [], skipped
        opted_out = set(SmsOptOut.objects.filter(
            phone_index__in={row[5] for row in rows if row[5]})
            .values_list("phone_index", flat=True))
        # A notice campaign's SMS is the Art. 27 notice itself; each row keeps the hash of
        # the notice version it summarises (its delivery is then evidence of that notice).
        notice, facts = _campaign_notice(campaign)
        consent = campaign_consent_facts(campaign) if facts is None else None
        claims, links, skip = [], [], {}
        for (message_id, request_id, purpose, request_status, phone, phone_index, expires_at,
             _kind) in rows:
            if request_status in NO_MORE_SMS or expires_at <= now:
                skip[message_id] = "request_closed"
                continue
            if phone_index in opted_out:
                skip[message_id] = "opted_out"
                continue
            try:
                to = normalize_mobile(phone) if phone else ""
            except InvalidPhone:
                to = ""
            if not to:
                skip[message_id] = "no_mobile"
                continue
            token = secrets.token_urlsafe(TOKEN_BYTES)
            reminder = purpose == SmsMessage.Purpose.REMINDER
            if facts is not None:
                body = sms_text.notice_body(facts=facts, url=link_url(token), reminder=reminder)
            else:
                body = sms_text.sms_body(url=link_url(token), reminder=reminder,
                                         consent=consent)
            links.append(ConsentLink(request_id=request_id, token_hash=token_hash(token),
                                     expires_at=expires_at, created_at=now))
            claims.append((Claimed(message_id, request_id, purpose, to, body),
                           sms_text.redact(body, token)))
        for code in set(skip.values()):
            ids = [message_id for message_id, reason in skip.items() if reason == code]
            SmsMessage.objects.filter(id__in=ids, status=MessageStatus.QUEUED).update(
                status=MessageStatus.SKIPPED, error_code=code, status_at=now)
            skipped[code] += len(ids)
        _links_create(links)
        bulk.sms_mark_claimed(
            [(claim.message_id, link.pk, redacted)
             for (claim, redacted), link in zip(claims, links, strict=True)],
            worker=worker, provider=provider().name, notice_id=notice.pk if notice else None,
            notice_hash=notice.text_hash if notice else "", now=now)
    return [claim for claim, _ in claims], skipped


def _links_create(links: list[ConsentLink]) -> None:
    """Insert ``links`` and give each its id (read back on a backend that returns none)."""
    ConsentLink.objects.bulk_create(links)
    if links and links[0].pk is None:
        by_hash = dict(ConsentLink.objects.filter(
            token_hash__in=[link.token_hash for link in links]).values_list("token_hash", "id"))
        for link in links:
            link.pk = by_hash[link.token_hash]


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
