"""What a subject says: answer (agree/decline per item), withdraw, object. -> ConsentRecord

Every call writes, in ONE transaction: an immutable `ConsentRecord` (naming the privacy page
in force, `record_create`), the per-plan-version state in governance through the service of
that act (`governance.services.consent_state_answer`, `_withdraw`, `_object`: they decide
what each act changes in the state), the request's status, and one audit event.
The request row is locked (`select_for_update`) first, so two answers arriving at once (a
double-clicked button, a web answer and an SMS reply) are applied one after the other, never
interleaved.

Semantics (decided here, relied on by the SMS replies and the officer's phone records):

- The items a request asks about are the campaign's ``items`` (all the plan's ``consent`` and
  ``notice_opt_out`` fields of the subject's kind when the campaign lists none). ``consent``
  items are answered; ``notice_opt_out`` items are objected to (Art. 27).
- An answer is the subject's whole answer for that plan version: it replaces any earlier one
  (a later answer, also after a withdrawal, is a new record and the new state). Items it does
  not mention are unanswered, so they stay pending (they do not move).
- Required items stand or fall together: agreeing to some required items and declining others
  is refused (`InvalidAnswer`). Declining the required items means the subject does not take
  part in moving *those* items: they are recorded as declined and do not move (the notice says
  plainly what that costs); optional items are still answered one by one, and an optional
  item agreed to moves even when the required ones were declined.
- Answers are taken only while the request is open (not expired, not cancelled, campaign not
  cancelled) and the plan version is in force. Withdrawing and objecting are always possible
  (the right does not lapse with the link; after expiry they come through the call centre).
- A withdrawal withdraws everything agreed so far for that plan version (items_declined of the
  record = the withdrawn items); the state keeps nothing granted and sets ``withdrawn_at``.
- An objection covers every ``notice_opt_out`` item of the request; it sets ``objected`` and
  leaves the consent answers as they were (objection is an Art. 27 matter, not a consent).
- An SMS reply (channel ``sms_reply``, with the ``sms_message`` it answers) is a *partial*
  answer: it decides the items the SMS named (the required ones), keeps every earlier
  decision on the others, and its record holds no notice (no notice page was shown).
- Each record names the earlier record it changes (``changes``): the answer it replaces, the
  answer a withdrawal withdraws, the early request an objection overrides.
- Channel ``phone`` needs the ``officer`` who took the call and a ``reason``; the audit actor
  is then that officer, otherwise the subject (``subject:<public_id>``). ``reason`` itself is
  free text and never goes into the audit details (it may carry personal words).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event
from consent.models import Campaign, ConsentRecord, ConsentRequest, Notice
from consent.notices import NoticeItem, notice_current, notice_items
from consent.services.errors import (
    AlreadyObjected,
    ConsentError,
    InvalidAnswer,
    NothingToObject,
    NothingToWithdraw,
    OfficerRequired,
    RequestClosed,
)
from governance.models import SubjectConsentState
from governance.services import (
    GovernanceError,
    consent_state_answer,
    consent_state_object,
    consent_state_withdraw,
)

Channel = ConsentRecord.Channel
Action = ConsentRecord.Action
RequestStatus = ConsentRequest.Status

# A request in one of these takes no more answers.
CLOSED_STATUSES = (RequestStatus.EXPIRED, RequestStatus.CANCELLED)


class NoticeChanged(ConsentError):
    default_message = "안내문이 변경되었습니다. 변경된 안내를 다시 읽고 선택해 주세요."


@dataclass(frozen=True)
class RequestItems:
    """What a request asks: consent items (key -> item) and Art. 27 notice items."""

    consent: dict[str, NoticeItem]
    notice: dict[str, NoticeItem]

    @property
    def required(self) -> set[str]:
        return {k for k, item in self.consent.items() if item.required}


def request_items(*, request: ConsentRequest, for_page: bool = False) -> RequestItems:
    """The items ``request`` asks about, split by kind (see the module docstring).
    ``for_page``: see `consent.notices.notice_items` (pages only; services read afresh)."""
    campaign, kind = request.campaign, request.subject.kind
    asked = set(campaign.items or ())
    out = {}
    for notice_kind in (Notice.Kind.CONSENT, Notice.Kind.TRANSFER):
        items = notice_items(plan=campaign.plan, subject_kind=kind, kind=notice_kind,
                             for_page=for_page)
        out[notice_kind] = {i.key: i for i in items if not asked or i.key in asked}
    return RequestItems(consent=out[Notice.Kind.CONSENT], notice=out[Notice.Kind.TRANSFER])


def request_is_live(request: ConsentRequest) -> bool:
    """Not cancelled (nor its campaign): what the Art. 27 choices need. Its answer period
    may have ended: moving early or objecting do not lapse with the link."""
    return (request.status != RequestStatus.CANCELLED
            and request.campaign.status != Campaign.Status.CANCELLED)


def request_is_open(request: ConsentRequest, *, now=None) -> bool:
    now = now or timezone.now()
    return (request.status not in CLOSED_STATUSES and request.expires_at > now
            and request.campaign.status != Campaign.Status.CANCELLED)


def _locked(request: ConsentRequest) -> ConsentRequest:
    # Lock only the request row (not the plan, operators and subject joined for reading):
    # every subject of a campaign shares the plan row.
    return (ConsentRequest.objects.select_for_update(of=("self",))
            .select_related("campaign__plan__from_operator", "campaign__plan__to_operator",
                            "subject")
            .get(pk=request.pk))


def _actor(*, subject, channel: str, officer):
    """Who acted: the officer who took the call, otherwise the subject."""
    if channel == Channel.PHONE:
        return officer
    return AuditEvent.ActorType.SUBJECT, f"subject:{subject.public_id}"


def _check_channel(*, channel: str, identity_factor: str, officer, reason: str) -> None:
    if channel not in Channel.values:
        raise ConsentError("알 수 없는 응답 경로입니다.")
    if not identity_factor:
        raise ConsentError("본인 확인 수단이 기록되지 않았습니다.")
    if channel == Channel.PHONE and (officer is None or not reason.strip()):
        raise OfficerRequired()


def _state(plan, subject) -> SubjectConsentState | None:
    return SubjectConsentState.objects.filter(plan=plan, subject=subject).first()


def _labels(keys, items: dict[str, NoticeItem]) -> str:
    return ", ".join(items[k].label if k in items else k for k in sorted(keys))


def record_create(**values) -> ConsentRecord:
    """Write the immutable record, naming the privacy page in force as it is written (the
    receipt cites that version, not whatever is current when it is downloaded)."""
    from governance.selectors import privacy_page_current

    page = privacy_page_current()
    return ConsentRecord.objects.create(privacy_version=page.version,
                                        privacy_hash=page.text_hash, **values)


def _last(plan, subject, *actions) -> ConsentRecord | None:
    return (ConsentRecord.objects.select_related("notice")
            .filter(plan=plan, subject=subject, action__in=actions)
            .order_by("-created_at", "-id").first())


def consent_answer(*, request: ConsentRequest, agreed: Iterable[str], declined: Iterable[str],
                   channel: str, identity_factor: str, officer=None, reason: str = "",
                   notice_hash: str | None = None, sms_message=None) -> ConsentRecord:
    """Record the subject's answer for the request's consent items (see the module docstring).

    ``notice_hash``: the hash of the notice text the subject was shown (the page passes it);
    if the current notice differs, `NoticeChanged` asks them to read it again.
    ``sms_message``: for an SMS reply, the message it answers; the answer is then partial
    (other items keep their earlier decision) and the record holds no notice.
    Raises a `ConsentError` subclass (message safe to show) and writes nothing on bad input.
    """
    agreed, declined = set(agreed), set(declined)
    _check_channel(channel=channel, identity_factor=identity_factor, officer=officer,
                   reason=reason)
    now = timezone.now()
    with transaction.atomic():
        req = _locked(request)
        plan, subject = req.campaign.plan, req.subject
        if not request_is_open(req, now=now):
            raise RequestClosed()
        if not plan.in_force:
            raise RequestClosed("이 동의 요청의 이전 계획이 더 이상 유효하지 않습니다. "
                                "콜센터로 문의해 주세요.")
        items = request_items(request=req)
        _validate_answer(agreed=agreed, declined=declined, items=items)
        by_sms = sms_message is not None
        if by_sms and channel != Channel.SMS_REPLY:
            raise ConsentError("문자 회신만 문자 메시지를 근거로 기록할 수 있습니다.")
        # An SMS reply saw no notice page: its record holds none (its SMS is the evidence).
        notice = None if by_sms else notice_current(plan=plan, subject_kind=subject.kind,
                                                    kind=Notice.Kind.CONSENT)
        if notice is not None and notice_hash is not None and notice_hash != notice.text_hash:
            raise NoticeChanged()
        record = record_create(
            plan=plan, subject=subject, request=req, notice=notice,
            notice_hash=notice.text_hash if notice else "", sms_message=sms_message,
            changes=_last(plan, subject, Action.ANSWER),
            action=Action.ANSWER, items_agreed=sorted(agreed), items_declined=sorted(declined),
            channel=channel, identity_factor=identity_factor, officer=officer, reason=reason,
            created_at=now)
        # An SMS reply is partial: it decides only what it named (governance merges).
        _state_change(consent_state_answer, plan=plan, subject=subject, granted=agreed,
                      declined=declined, answered_at=now, partial=by_sms,
                      notice_hash=notice.text_hash if notice else None)
        req.status = RequestStatus.ANSWERED
        req.answered_at = req.answered_at or now
        req.save(update_fields=["status", "answered_at"])
        _audit(action="consent.answered", req=req, record=record, channel=channel,
               officer=officer, details={
                   "agreed": sorted(agreed), "declined": sorted(declined),
                   "agreed_count": len(agreed), "declined_count": len(declined),
                   "notice_hash": notice.text_hash if notice else "",
                   "notice_version": notice.version if notice else 0,
                   "sms_message": sms_message.pk if by_sms else None})
    return record


def _validate_answer(*, agreed: set[str], declined: set[str], items: RequestItems) -> None:
    if not items.consent:
        raise InvalidAnswer("이 요청에는 동의를 묻는 항목이 없습니다.")
    if not agreed and not declined:
        raise InvalidAnswer("동의 또는 거부할 항목을 하나 이상 선택해 주세요.")
    unknown = (agreed | declined) - set(items.consent)
    if unknown:
        raise InvalidAnswer("이 요청에 없는 항목이 포함되어 있습니다.")
    both = agreed & declined
    if both:
        raise InvalidAnswer(f"같은 항목에 동의와 거부를 함께 선택할 수 없습니다: "
                            f"{_labels(both, items.consent)}")
    required = items.required
    if agreed & required and declined & required:
        raise InvalidAnswer("필수 항목은 모두 동의하거나 모두 거부해 주세요: "
                            f"{_labels(required, items.consent)}")


def consent_withdraw(*, request: ConsentRequest, channel: str, identity_factor: str,
                     officer=None, reason: str = "") -> ConsentRecord:
    """Withdraw everything the subject has agreed to for the request's plan version."""
    _check_channel(channel=channel, identity_factor=identity_factor, officer=officer,
                   reason=reason)
    now = timezone.now()
    with transaction.atomic():
        req = _locked(request)
        plan, subject = req.campaign.plan, req.subject
        state = _state(plan, subject)
        granted = set(state.fields_granted) if state and state.withdrawn_at is None else set()
        if not granted:
            raise NothingToWithdraw()
        last_answer = _last(plan, subject, Action.ANSWER)
        notice = (last_answer.notice if last_answer and last_answer.notice else
                  notice_current(plan=plan, subject_kind=subject.kind,
                                 kind=Notice.Kind.CONSENT))
        record = record_create(
            plan=plan, subject=subject, request=req, notice=notice, notice_hash=notice.text_hash,
            changes=last_answer, action=Action.WITHDRAW, items_agreed=[],
            items_declined=sorted(granted),
            channel=channel, identity_factor=identity_factor, officer=officer, reason=reason,
            created_at=now)
        _state_change(consent_state_withdraw, plan=plan, subject=subject, withdrawn_at=now)
        _audit(action="consent.withdrawn", req=req, record=record, channel=channel,
               officer=officer, details={"withdrawn": sorted(granted),
                                         "withdrawn_count": len(granted),
                                         "notice_hash": notice.text_hash})
    return record


def consent_object(*, request: ConsentRequest, channel: str, identity_factor: str,
                   officer=None, reason: str = "") -> ConsentRecord:
    """Object (PIPA Art. 27) to the move of the request's notice items: they will not move."""
    _check_channel(channel=channel, identity_factor=identity_factor, officer=officer,
                   reason=reason)
    now = timezone.now()
    with transaction.atomic():
        req = _locked(request)
        plan, subject = req.campaign.plan, req.subject
        items = request_items(request=req)
        if not items.notice:
            raise NothingToObject()
        state = _state(plan, subject)
        if state is not None and state.objected:
            raise AlreadyObjected()
        notice = notice_current(plan=plan, subject_kind=subject.kind,
                                kind=Notice.Kind.TRANSFER)
        early = (_last(plan, subject, Action.EARLY_REQUEST)
                 if state is not None and state.early_requested_at is not None else None)
        record = record_create(
            plan=plan, subject=subject, request=req, notice=notice, notice_hash=notice.text_hash,
            changes=early, action=Action.OBJECT, items_agreed=[],
            items_declined=sorted(items.notice),
            channel=channel, identity_factor=identity_factor, officer=officer, reason=reason,
            created_at=now)
        _state_change(consent_state_object, plan=plan, subject=subject, objected_at=now)
        _audit(action="consent.objected", req=req, record=record, channel=channel,
               officer=officer, details={"objected": sorted(items.notice),
                                         "objected_count": len(items.notice),
                                         "notice_hash": notice.text_hash,
                                         "notice_version": notice.version})
    return record


def _state_change(service, **arguments) -> SubjectConsentState:
    """Change the subject's state in governance with ``service``; its refusal (the request
    was validated above, so a plan changed under us) is a `ConsentError`."""
    try:
        return service(**arguments)
    except GovernanceError as exc:
        raise ConsentError() from exc


def _audit(*, action: str, req: ConsentRequest, record: ConsentRecord, channel: str, officer,
           details: dict) -> None:
    audit_event(by=_actor(subject=req.subject, channel=channel, officer=officer),
                action=action, target=req,
                details={"request": str(req.public_id), "receipt": str(record.receipt_id),
                         "plan": req.campaign.plan_id, "channel": channel,
                         "identity_factor": record.identity_factor,
                         "officer_recorded": officer is not None, **details})
