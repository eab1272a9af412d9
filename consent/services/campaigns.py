"""Campaigns: who is asked, about what, when; launch, pause, resume, cancel; the funnel.

Launching creates one `ConsentRequest` per subject and one queued invitation `SmsMessage` per
request with two INSERT ... SELECT statements (`consent.bulk`; 270,000 rows in seconds, not
a query per row); the links themselves are issued just before each send (consent.services.sending).
Subjects without a phone number get a `skipped` invitation (``no_mobile``) and are counted;
numbers that opted out get a `skipped` one (``opted_out``).

A campaign about Art. 27 (`notice_opt_out`) items only *carries the notice*
(`Campaign.carries_notice`): each of its SMS is the notice itself, one LMS, whose delivery is
evidence that the notice reached that subject. Launching refuses such a campaign when its
longest possible message does not fit one LMS in the carriers' encoding.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from audit.services import audit_event, system_actor
from consent import bulk, sms_text
from consent.models import Campaign, ConsentRecord, ConsentRequest, SmsMessage
from consent.services.errors import ConsentError
from governance.models import DataSubject, FieldRule, TransferPlan

Status = Campaign.Status
ASKED_BASES = (FieldRule.Basis.CONSENT, FieldRule.Basis.NOTICE_OPT_OUT)
LIST_CHUNK = 5000


class CampaignError(ConsentError):
    default_message = "캠페인 요청을 처리할 수 없습니다."


def _actor(by):
    """The officer who acted, or this service itself (a campaign made without one)."""
    return by if by is not None else system_actor("consent")


def _audit(by, action: str, campaign: Campaign, details: dict | None = None) -> None:
    audit_event(by=_actor(by), action=action, target=campaign, details=details or {})


def campaign_items_available(*, plan: TransferPlan, subject_kind: str) -> list[str]:
    """The plan's fields a campaign for ``subject_kind`` may ask about, in catalogue order."""
    return list(plan.rules.filter(basis__in=ASKED_BASES, field__subject_kind=subject_kind)
                .order_by("field__position").values_list("field__key", flat=True))


def campaign_carries_notice(*, plan: TransferPlan, items: list[str]) -> bool:
    """True when ``items`` are all Art. 27 (`notice_opt_out`) items of ``plan``: nothing to
    consent to, so the SMS carries the notice itself."""
    notice_keys = set(plan.rules.filter(basis=FieldRule.Basis.NOTICE_OPT_OUT)
                      .values_list("field__key", flat=True))
    return bool(items) and set(items) <= notice_keys


@transaction.atomic
def campaign_create(*, plan: TransferPlan, name: str, subject_kind: str, expires_at: dt.datetime,
                    by=None, audience: str = Campaign.Audience.ALL,
                    audience_filter: dict | None = None, items: list[str] | None = None,
                    starts_at: dt.datetime | None = None, quiet_from_hour: int = 21,
                    quiet_until_hour: int = 8, send_rate_per_second: int = 100,
                    reminder_count: int = 1, reminder_after_hours: int = 48) -> Campaign:
    if not plan.in_force:
        raise CampaignError("승인된(시행 중인) 이전 계획에 대해서만 캠페인을 만들 수 있습니다.")
    if subject_kind not in DataSubject.Kind.values:
        raise CampaignError("알 수 없는 정보주체 유형입니다.")
    available = campaign_items_available(plan=plan, subject_kind=subject_kind)
    items = list(items) if items else available
    if not items or set(items) - set(available):
        raise CampaignError("이 계획에서 동의 또는 고지 대상인 항목만 요청할 수 있습니다.")
    starts_at = starts_at or timezone.now()
    if expires_at <= starts_at:
        raise CampaignError("응답 마감은 발송 시작 이후여야 합니다.")
    if not (0 <= quiet_from_hour <= 23 and 0 <= quiet_until_hour <= 23):
        raise CampaignError("야간 발송 금지 시간은 0-23시로 입력해 주세요.")
    if send_rate_per_second < 1:
        raise CampaignError("초당 발송 한도는 1 이상이어야 합니다.")
    audience_filter = dict(audience_filter or {})
    if audience == Campaign.Audience.FILTER and not audience_filter.get("external_id_prefix"):
        raise CampaignError("조건 대상에는 external_id_prefix 조건이 필요합니다.")
    if audience == Campaign.Audience.LIST and not audience_filter.get("external_ids"):
        raise CampaignError("업로드 명단이 비어 있습니다.")
    campaign = Campaign.objects.create(
        plan=plan, name=name, subject_kind=subject_kind, audience=audience,
        audience_filter=audience_filter, items=items, starts_at=starts_at,
        quiet_from_hour=quiet_from_hour, quiet_until_hour=quiet_until_hour,
        send_rate_per_second=send_rate_per_second, reminder_count=reminder_count,
        reminder_after_hours=reminder_after_hours, expires_at=expires_at,
        created_by=by, carries_notice=campaign_carries_notice(plan=plan, items=items))
    _audit(by, "campaign.created", campaign, {
        "plan_id": plan.pk, "subject_kind": subject_kind, "audience": audience,
        "items": items, "send_rate_per_second": send_rate_per_second,
        "reminder_count": reminder_count, "carries_notice": campaign.carries_notice})
    return campaign


def _audience(campaign: Campaign):
    """Querysets of the subjects asked (several for a long uploaded list)."""
    base = DataSubject.objects.filter(source_operator_id=campaign.plan.from_operator_id,
                                      kind=campaign.subject_kind)
    if campaign.audience == Campaign.Audience.FILTER:
        return [base.filter(
            external_id__startswith=campaign.audience_filter["external_id_prefix"])]
    if campaign.audience == Campaign.Audience.LIST:
        ids = [str(x) for x in campaign.audience_filter.get("external_ids", [])]
        return [base.filter(external_id__in=ids[i:i + LIST_CHUNK])
                for i in range(0, len(ids), LIST_CHUNK)]
    return [base]


def _create_requests(campaign: Campaign, now: dt.datetime) -> int:
    return sum(bulk.requests_insert(campaign_id=campaign.pk, subjects=subjects,
                                    expires_at=campaign.expires_at, now=now)
               for subjects in _audience(campaign))


def _create_invitations(campaign: Campaign, now: dt.datetime) -> None:
    bulk.invitations_insert(campaign_id=campaign.pk, not_before=max(campaign.starts_at, now),
                            now=now)


@dataclass(frozen=True)
class LaunchResult:
    campaign: Campaign
    requests: int
    skipped_no_mobile: int
    skipped_opted_out: int


def campaign_launch(*, campaign: Campaign, by=None) -> LaunchResult:
    """DRAFT -> RUNNING: create the requests and queue the invitations, then start sending."""
    from consent.services.sending import sending_kick

    now = timezone.now()
    with transaction.atomic():
        updated = Campaign.objects.filter(pk=campaign.pk, status=Status.DRAFT).update(
            status=Status.RUNNING, launched_at=now)
        if not updated:
            raise CampaignError("준비 중인 캠페인만 시작할 수 있습니다.")
        campaign.refresh_from_db()
        if not campaign.plan.in_force:
            raise CampaignError("이전 계획이 더 이상 유효하지 않아 시작할 수 없습니다.")
        longest = _sms_fits_or_refuse(campaign)
        created = _create_requests(campaign, now)
        _create_invitations(campaign, now)
        skipped = dict(SmsMessage.objects.filter(
            request__campaign=campaign, status=SmsMessage.Status.SKIPPED)
            .values_list("error_code").annotate(n=Count("id")))
        result = LaunchResult(campaign, created, skipped.get("no_mobile", 0),
                              skipped.get("opted_out", 0))
        _audit(by, "campaign.launched", campaign, {
            "requests": created, "skipped_no_mobile": result.skipped_no_mobile,
            "skipped_opted_out": result.skipped_opted_out, "longest_sms_bytes": longest})
        sending_kick(campaign_id=campaign.pk)
    return result


def _sms_fits_or_refuse(campaign: Campaign) -> int:
    """The carrier bytes of the campaign's longest possible SMS; refuses the launch when it
    cannot go as one LMS (a notice split over several messages is not one notice)."""
    from consent.services.sending import campaign_longest_sms

    what = "제27조 고지 문자" if campaign.carries_notice else "안내 문자"
    try:
        size = campaign_longest_sms(campaign=campaign)
    except sms_text.UnsendableText as exc:
        raise CampaignError(f"{what}에 통신사 인코딩(cp949)으로 보낼 수 없는 글자가 있어 시작할 "
                            f"수 없습니다: {exc}") from exc
    if size > sms_text.LMS_BYTES:
        raise CampaignError(
            f"{what}가 가장 길 때 {size:,}바이트(cp949)로, 장문 문자(LMS) 한 통의 한도 "
            f"{sms_text.LMS_BYTES:,}바이트를 넘어 시작할 수 없습니다. "
            "수령자 주소·연락처나 항목명을 줄여 주세요.")
    return size


def _transition(*, campaign: Campaign, by, frm: tuple[str, ...], to: str, action: str,
                message: str) -> Campaign:
    with transaction.atomic():
        fields = {"status": to}
        if to in (Status.CANCELLED, Status.COMPLETED):
            fields["finished_at"] = timezone.now()
        if not Campaign.objects.filter(pk=campaign.pk, status__in=frm).update(**fields):
            raise CampaignError(message)
        campaign.refresh_from_db()
        _audit(by, action, campaign)
    return campaign


def campaign_pause(*, campaign: Campaign, by=None) -> Campaign:
    """Messages not yet claimed wait; a batch already under way finishes its current sends."""
    return _transition(campaign=campaign, by=by, frm=(Status.RUNNING,), to=Status.PAUSED,
                       action="campaign.paused",
                       message="발송 중인 캠페인만 일시 중지할 수 있습니다.")


def campaign_resume(*, campaign: Campaign, by=None) -> Campaign:
    from consent.services.sending import sending_kick

    with transaction.atomic():
        campaign = _transition(campaign=campaign, by=by, frm=(Status.PAUSED,),
                               to=Status.RUNNING, action="campaign.resumed",
                               message="일시 중지된 캠페인만 재개할 수 있습니다.")
        sending_kick(campaign_id=campaign.pk)
    return campaign


def campaign_cancel(*, campaign: Campaign, by=None) -> Campaign:
    """Stop for good: queued messages are skipped, unanswered requests cancelled."""
    with transaction.atomic():
        campaign = _transition(campaign=campaign, by=by,
                               frm=(Status.DRAFT, Status.RUNNING, Status.PAUSED),
                               to=Status.CANCELLED, action="campaign.cancelled",
                               message="이미 끝난 캠페인은 취소할 수 없습니다.")
        skipped = SmsMessage.objects.filter(
            request__campaign=campaign, status=SmsMessage.Status.QUEUED).update(
            status=SmsMessage.Status.SKIPPED, error_code="cancelled")
        cancelled = ConsentRequest.objects.filter(campaign=campaign).exclude(
            status__in=(ConsentRequest.Status.ANSWERED, ConsentRequest.Status.EXPIRED)).update(
            status=ConsentRequest.Status.CANCELLED)
        _audit(by, "campaign.requests_cancelled", campaign,
               {"messages_skipped": skipped, "requests_cancelled": cancelled})
    return campaign


FUNNEL_STEPS = ("created", "sent", "delivered", "failed", "opened", "verified", "agreed",
                "declined", "withdrawn", "objected", "expired")
FUNNEL_LABELS = {
    "created": "생성", "sent": "발송", "delivered": "수신 확인", "failed": "발송 실패",
    "opened": "링크 열람", "verified": "본인 확인", "agreed": "동의", "declined": "거부",
    "withdrawn": "철회", "objected": "이전 거부", "expired": "기한 만료",
}


def campaign_funnel(*, campaign: Campaign) -> dict[str, int]:
    """Requests at each step of the funnel, with three aggregate queries.

    ``failed`` counts requests whose invitation could not be delivered; ``agreed`` and
    ``declined`` requests with an answer agreeing to / declining at least one item.
    """
    requests = ConsentRequest.objects.filter(campaign=campaign).aggregate(
        created=Count("id"), sent=Count("id", filter=Q(first_sent_at__isnull=False)),
        delivered=Count("id", filter=Q(delivered_at__isnull=False)),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        verified=Count("id", filter=Q(verified_at__isnull=False)),
        expired=Count("id", filter=Q(status=ConsentRequest.Status.EXPIRED)))
    failed = (SmsMessage.objects.filter(
        request__campaign=campaign, purpose=SmsMessage.Purpose.INVITATION,
        status__in=(SmsMessage.Status.FAILED, SmsMessage.Status.UNDELIVERED))
        .aggregate(n=Count("request_id", distinct=True))["n"])
    records = ConsentRecord.objects.filter(request__campaign=campaign).aggregate(
        agreed=Count("request_id", distinct=True,
                     filter=Q(action=ConsentRecord.Action.ANSWER) & ~Q(items_agreed=[])),
        declined=Count("request_id", distinct=True,
                       filter=Q(action=ConsentRecord.Action.ANSWER) & ~Q(items_declined=[])),
        withdrawn=Count("request_id", distinct=True,
                        filter=Q(action=ConsentRecord.Action.WITHDRAW)),
        objected=Count("request_id", distinct=True,
                       filter=Q(action=ConsentRecord.Action.OBJECT)))
    merged = {**requests, **records, "failed": failed}
    return {step: merged[step] for step in FUNNEL_STEPS}


def notice_unreached_export(*, plan: TransferPlan, by, reason: str, with_phone: bool = False
                            ) -> list:
    """The subjects the Art. 27 notice of ``plan`` could not reach by SMS, for the operator's
    alternative notice (post, in-app): `consent.selectors_notice.notice_unreached_subjects`.

    An officer's decision with a typed reason, audited in the same transaction: plan id,
    count, whether phone numbers were included, and the reason itself when it looks like
    no personal value (its length otherwise)."""
    from audit.services import looks_personal
    from consent.selectors_notice import notice_unreached_subjects

    reason = (reason or "").strip()
    if not reason:
        raise CampaignError("내보내는 사유를 입력해 주세요.")
    with transaction.atomic():
        rows = notice_unreached_subjects(plan=plan, with_phone=with_phone)
        details = {"plan_id": plan.pk, "count": len(rows), "with_phone": bool(with_phone),
                   "reason_length": len(reason)}
        if looks_personal(reason) is None:
            details["reason"] = reason[:500]
        audit_event(by=_actor(by), action="notice.unreached_exported", target=plan,
                    details=details)
    return rows
