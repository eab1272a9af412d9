"""Moving early (PIPA Art. 27): the subject asks for its notice items to move now, before its
notice period ends, or takes that request back. -> ConsentRecord

Each call writes, in ONE transaction with the request row locked (as the decisions do): an
immutable `ConsentRecord` (`early_request` / `early_withdraw`, with the Art. 27 notice shown,
the channel and the identity factor), governance's ``early_requested_at`` through
`consent_state_early_request` / `consent_state_early_withdraw`, and one audit event
(`consent.early_requested` / `consent.early_withdrawn`). The policy then lets those items
move at once (`allowed_early_request`), so the next incremental release carries them.

Rules:

- Only a request with Art. 27 (``notice_opt_out``) items, not cancelled (its answer period
  may be over: the way back in from `/c/` reaches it later) and its plan in force; not
  twice; not after an objection (an objector's data never moves, and an early request does
  not undo the objection: the call centre does).
- An objection after an early request wins: the early request stays on record, the policy
  denies (`denied_objected`).
- Withdrawing is possible until a release has been made since the request (governance's
  register, `consent.selectors_page.provision_since`): after that the data has moved and
  `AlreadyMoved` says so; objecting then asks the recipient to delete it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from consent.models import ConsentRecord, ConsentRequest, Notice
from consent.notices import notice_current
from consent.selectors_page import provision_since
from consent.services.decisions import (
    NoticeChanged,
    _audit,
    _check_channel,
    _last,
    _locked,
    _state,
    record_create,
    request_is_live,
    request_items,
)
from consent.services.errors import ConsentError, RequestClosed
from governance.services import (
    GovernanceError,
    consent_state_early_request,
    consent_state_early_withdraw,
)

Action = ConsentRecord.Action


class NothingToMoveEarly(ConsentError):
    default_message = "이 요청에는 지금 이전을 요청할 수 있는 항목이 없습니다."


class AlreadyRequestedEarly(ConsentError):
    default_message = "이미 지금 이전을 요청하셨습니다. 다음 이전 때 옮겨집니다."


class ObjectedCannotMoveEarly(ConsentError):
    default_message = ("이전 거부가 접수되어 있어 이전을 요청할 수 없습니다. 이전을 원하시면 "
                       "콜센터로 문의해 주세요.")


class NoEarlyRequest(ConsentError):
    default_message = "철회할 조기 이전 요청이 없습니다."


class AlreadyMoved(ConsentError):
    """The early request has been carried by a release: there is nothing left to take back."""

    default_message = ("요청하신 정보는 이미 새 운영사로 이전되어 조기 이전 요청을 철회할 수 "
                       "없습니다. 이전된 정보를 원하지 않으시면 이전 거부를 해 주세요. 새 "
                       "운영사에 그 정보의 삭제를 요청합니다.")


def consent_early_request(*, request: ConsentRequest, channel: str, identity_factor: str,
                          officer=None, reason: str = "",
                          notice_hash: str | None = None) -> ConsentRecord:
    """Record the subject's request to move the request's Art. 27 items now.

    ``notice_hash``: the hash of the Art. 27 notice the subject was shown (the page passes
    it); if the current one differs, `NoticeChanged` asks them to read it again.
    """
    _check_channel(channel=channel, identity_factor=identity_factor, officer=officer,
                   reason=reason)
    now = timezone.now()
    with transaction.atomic():
        req = _locked(request)
        plan, subject = req.campaign.plan, req.subject
        if not request_is_live(req) or not plan.in_force:
            raise RequestClosed()
        items = request_items(request=req).notice
        if not items:
            raise NothingToMoveEarly()
        state = _state(plan, subject)
        if state is not None and state.objected:
            raise ObjectedCannotMoveEarly()
        if state is not None and state.early_requested_at is not None:
            raise AlreadyRequestedEarly()
        notice = notice_current(plan=plan, subject_kind=subject.kind, kind=Notice.Kind.TRANSFER)
        if notice_hash is not None and notice_hash != notice.text_hash:
            raise NoticeChanged()
        record = record_create(
            plan=plan, subject=subject, request=req, notice=notice, notice_hash=notice.text_hash,
            action=Action.EARLY_REQUEST, items_agreed=sorted(items), items_declined=[],
            channel=channel, identity_factor=identity_factor, officer=officer, reason=reason,
            created_at=now)
        _early_change(consent_state_early_request, plan=plan, subject=subject, requested_at=now)
        _audit(action="consent.early_requested", req=req, record=record, channel=channel,
               officer=officer, details={"items": sorted(items), "items_count": len(items),
                                         "notice_hash": notice.text_hash,
                                         "notice_version": notice.version})
    return record


def consent_early_withdraw(*, request: ConsentRequest, channel: str, identity_factor: str,
                           officer=None, reason: str = "") -> ConsentRecord:
    """Take back the subject's early request before a release carried it: its Art. 27 items
    then wait for the notice period again. Refused (`AlreadyMoved`) once a release has been
    made since the request."""
    _check_channel(channel=channel, identity_factor=identity_factor, officer=officer,
                   reason=reason)
    now = timezone.now()
    with transaction.atomic():
        req = _locked(request)
        plan, subject = req.campaign.plan, req.subject
        state = _state(plan, subject)
        if state is None or state.early_requested_at is None:
            raise NoEarlyRequest()
        items = request_items(request=req).notice
        if provision_since(plan=plan, items=list(items),
                           since=state.early_requested_at) is not None:
            raise AlreadyMoved()
        notice = notice_current(plan=plan, subject_kind=subject.kind, kind=Notice.Kind.TRANSFER)
        record = record_create(
            plan=plan, subject=subject, request=req, notice=notice, notice_hash=notice.text_hash,
            changes=_last(plan, subject, Action.EARLY_REQUEST), action=Action.EARLY_WITHDRAW,
            items_agreed=[], items_declined=sorted(items),
            channel=channel, identity_factor=identity_factor, officer=officer, reason=reason,
            created_at=now)
        _early_change(consent_state_early_withdraw, plan=plan, subject=subject)
        _audit(action="consent.early_withdrawn", req=req, record=record, channel=channel,
               officer=officer, details={
                   "items": sorted(items), "items_count": len(items),
                   "requested_at": state.early_requested_at.isoformat(),
                   "notice_hash": notice.text_hash})
    return record


def _early_change(service, **arguments) -> None:
    """Change the early request in governance with ``service``; its refusal is the plan
    leaving force under us."""
    try:
        service(**arguments)
    except GovernanceError as exc:
        raise RequestClosed("이 요청의 이전 계획이 더 이상 유효하지 않습니다. "
                            "콜센터로 문의해 주세요.") from exc
