"""SMS replies: understood ones are applied, anything else waits for an officer.

- 동의 / 예 / YES / Y / 1 -> agree to what the SMS itself stated: the required consent items
  it named (`consent.sms_text.reply_statement`), never an optional or marketing item; those
  stay as they were (undecided unless answered on the page). 거부 / 아니오 / NO / N / 2 ->
  decline those same items. Identity factor ``phone_match`` (the reply came from the number
  we hold). The record holds the SMS it answers and no notice: no notice page was shown.
- 수신거부 / STOP -> no further SMS to that number (`SmsOptOut`); queued messages to it are
  skipped. It is not an answer: the link keeps working.
- Anything else, a number we do not know, a number with several open requests, a request
  with no required consent item, or one whose SMS did not state its items (say, sent before
  the SMS named them) -> ``needs_review``, never guessed.

Each reply is stored once, keyed by the provider's message sid (a webhook delivered twice is
applied once); its number and text are encrypted at rest and never go into the audit trail.
"""

from __future__ import annotations

import re
import unicodedata

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event, system_actor
from consent.models import (
    Campaign,
    ConsentRecord,
    ConsentRequest,
    InboundSms,
    SmsMessage,
    SmsOptOut,
)
from consent.services.errors import ConsentError
from governance.crypto import InvalidPhone, normalize_phone, phone_index

Outcome = InboundSms.Outcome
AGREE, DECLINE, OPT_OUT = "agree", "decline", "opt_out"
_WORDS = {
    "동의": AGREE, "예": AGREE, "YES": AGREE, "Y": AGREE, "1": AGREE,
    "거부": DECLINE, "아니오": DECLINE, "NO": DECLINE, "N": DECLINE,
    "2": DECLINE, "수신거부": OPT_OUT, "STOP": OPT_OUT,
}
OPEN_REQUEST_STATUSES = (ConsentRequest.Status.CREATED, ConsentRequest.Status.SENT,
                         ConsentRequest.Status.DELIVERED, ConsentRequest.Status.FAILED,
                         ConsentRequest.Status.OPENED, ConsentRequest.Status.VERIFIED,
                         ConsentRequest.Status.ANSWERED)


class ReviewError(ConsentError):
    default_message = "이 회신은 처리할 수 없습니다."


def reply_intent(body: str) -> str | None:
    """What a reply says, only when it is exactly one of the known words (spaces, case and
    trailing punctuation aside); None otherwise."""
    text = unicodedata.normalize("NFKC", body or "").strip().upper()
    text = re.sub(r"[\s.!~,]+", "", text)
    return _WORDS.get(text)


def _open_requests(index: str):
    now = timezone.now()
    return (ConsentRequest.objects.select_related("campaign__plan", "subject")
            .filter(subject__phone_index=index, status__in=OPEN_REQUEST_STATUSES,
                    expires_at__gt=now,
                    campaign__status__in=(Campaign.Status.RUNNING, Campaign.Status.PAUSED)))


def _audit_reply(inbound: InboundSms, action: str, details: dict, actor=None) -> None:
    audit_event(by=actor or system_actor("sms"), action=action, target=inbound,
                details={"outcome": inbound.outcome, "request_id": inbound.request_id,
                         **details})


def sms_reply_receive(*, provider_sid: str, from_phone: str, body: str) -> InboundSms:
    """Store and apply (or queue for review) one inbound SMS. Idempotent per provider sid."""
    existing = InboundSms.objects.filter(provider_sid=provider_sid).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _receive(provider_sid=provider_sid, from_phone=from_phone, body=body)
    except IntegrityError:  # the same webhook, processed at the same moment by another worker
        return InboundSms.objects.get(provider_sid=provider_sid)


def _receive(*, provider_sid: str, from_phone: str, body: str) -> InboundSms:
    try:
        index = phone_index(normalize_phone(from_phone))
    except InvalidPhone:
        index = ""
    inbound = InboundSms.objects.create(provider_sid=provider_sid, from_phone=from_phone,
                                        from_phone_index=index, body=body,
                                        outcome=Outcome.NEEDS_REVIEW)
    intent = reply_intent(body)
    if intent == OPT_OUT and index:
        skipped = _opt_out(index)
        inbound.outcome = Outcome.OPTED_OUT
        inbound.save(update_fields=["outcome"])
        _audit_reply(inbound, "sms.opted_out", {"messages_skipped": skipped})
        return inbound
    requests = list(_open_requests(index)[:2]) if index else []
    reason = ""
    if not index or not requests:
        reason = "알 수 없는 번호이거나 진행 중인 요청이 없음"
    elif len(requests) > 1:
        reason = "이 번호로 진행 중인 요청이 여러 건임"
    elif intent is None:
        reason = "이해할 수 없는 회신"
    if len(requests) == 1:
        inbound.request = requests[0]
    if not reason:
        try:
            with transaction.atomic():
                inbound.record = _apply(request=requests[0], intent=intent)
            inbound.outcome = Outcome.APPLIED
        except ConsentError as exc:
            reason = exc.message[:200]
    inbound.review_reason = reason
    inbound.save(update_fields=["outcome", "review_reason", "request", "record"])
    _audit_reply(inbound, "sms.reply_received", {"intent": intent or "unclear",
                                                 "needs_review": bool(reason)})
    return inbound


_ASKING_PURPOSES = (SmsMessage.Purpose.INVITATION, SmsMessage.Purpose.REMINDER,
                    SmsMessage.Purpose.RESEND)
_SENT_STATUSES = (SmsMessage.Status.SUBMITTED, SmsMessage.Status.SENT,
                  SmsMessage.Status.DELIVERED, SmsMessage.Status.UNKNOWN)


def stating_sms(*, request: ConsentRequest, statement: str) -> SmsMessage | None:
    """The latest SMS sent for ``request`` whose stored text carries ``statement`` (the
    sentence naming the items a reply answers), or None."""
    if not statement:
        return None
    for message in (SmsMessage.objects.filter(request=request, purpose__in=_ASKING_PURPOSES,
                                              status__in=_SENT_STATUSES)
                    .order_by("-submitted_at", "-id")[:10]):
        if statement in message.body_redacted:
            return message
    return None


def _apply(*, request: ConsentRequest, intent: str, officer=None, reason: str = ""
           ) -> ConsentRecord:
    from consent import sms_text
    from consent.services.decisions import consent_answer, request_items

    items = request_items(request=request).consent
    required = [item for item in items.values() if item.required]
    if not required:
        raise ReviewError("이 요청에는 문자로 답할 수 있는 필수 동의 항목이 없음")
    facts = sms_text.ConsentFacts(recipient=request.campaign.plan.to_operator.name,
                                  required=tuple(item.label for item in required))
    message = stating_sms(request=request, statement=sms_text.reply_statement(facts))
    if message is None:
        raise ReviewError("회신한 문자에 동의 항목이 적혀 있지 않음")
    keys = sorted(item.key for item in required)
    agreed, declined = (keys, []) if intent == AGREE else ([], keys)
    return consent_answer(request=request, agreed=agreed, declined=declined,
                          channel=ConsentRecord.Channel.SMS_REPLY,
                          identity_factor="phone_match", officer=officer, reason=reason,
                          sms_message=message)


def _opt_out(index: str) -> int:
    SmsOptOut.objects.get_or_create(phone_index=index)
    return SmsMessage.objects.filter(
        status=SmsMessage.Status.QUEUED, request__subject__phone_index=index).update(
        status=SmsMessage.Status.SKIPPED, error_code="opted_out", status_at=timezone.now())


def sms_reply_resolve(*, inbound: InboundSms, action: str, officer,
                      request: ConsentRequest | None = None) -> InboundSms:
    """An officer settles a reply in the review queue: apply agree / decline to a request
    chosen by the officer (its subject must hold the number the reply came from), or register
    an opt-out. The officer is recorded on the reply and in the audit trail."""
    if officer is None:
        raise ReviewError("검토 담당자가 필요합니다.")
    with transaction.atomic():
        inbound = InboundSms.objects.select_for_update().get(pk=inbound.pk)
        if inbound.outcome != Outcome.NEEDS_REVIEW:
            raise ReviewError("이미 처리된 회신입니다.")
        if action == OPT_OUT:
            if not inbound.from_phone_index:
                raise ReviewError("번호를 알 수 없어 수신 거부를 등록할 수 없습니다.")
            _opt_out(inbound.from_phone_index)
        elif action in (AGREE, DECLINE):
            if request is None:
                raise ReviewError("반영할 동의 요청을 선택해 주세요.")
            if not inbound.from_phone_index or (
                    request.subject.phone_index != inbound.from_phone_index):
                raise ReviewError("회신한 번호와 요청 대상자의 번호가 일치하지 않습니다.")
            inbound.request = request
            inbound.record = _apply(request=request, intent=action, officer=officer,
                                    reason="문자 회신 검토 후 반영 (review queue)")
        else:
            raise ReviewError("알 수 없는 처리입니다.")
        inbound.outcome = Outcome.RESOLVED
        inbound.resolved_by, inbound.resolved_at = officer, timezone.now()
        inbound.save(update_fields=["outcome", "request", "record", "resolved_by",
                                    "resolved_at"])
        _audit_reply(inbound, "sms.reply_resolved", {"resolution": action},
                     actor=officer)
    return inbound


def sms_reply_dismiss(*, inbound: InboundSms, officer) -> InboundSms:
    if officer is None:
        raise ReviewError("검토 담당자가 필요합니다.")
    with transaction.atomic():
        updated = InboundSms.objects.filter(pk=inbound.pk, outcome=Outcome.NEEDS_REVIEW).update(
            outcome=Outcome.DISMISSED, resolved_by=officer, resolved_at=timezone.now())
        if not updated:
            raise ReviewError("이미 처리된 회신입니다.")
        inbound.refresh_from_db()
        _audit_reply(inbound, "sms.reply_dismissed", {}, actor=officer)
    return inbound
