"""The first page of a link: the Art. 27 notice (public) and the identity form, and what
its first opening records."""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event, system_actor
from consent.models import ConsentRequest, Notice
from consent.selectors import consent_current
from consent.services.decisions import request_is_open
from consent.services.errors import ConsentError, IdentityLocked, TooManyAttempts
from consent.services.identity import identity_locked, identity_verify
from consent.views.links import (
    _client_ip,
    _page,
    _set_verified,
    _shared_page,
    _verified_factor,
    _Visit,
    link_view,
)
from governance.models import NoticeChannel
from governance.services import Evidence, GovernanceError, notice_evidence_record

log = logging.getLogger(__name__)

_PRE_OPENED = (ConsentRequest.Status.CREATED, ConsentRequest.Status.SENT,
               ConsentRequest.Status.DELIVERED, ConsentRequest.Status.FAILED)


@link_view(verified=False, methods=("GET", "POST"), after_close=True)
def landing(request, visit: _Visit):
    if request.method == "POST":
        try:
            factor = identity_verify(request=visit.req, answer=request.POST.get("answer", ""),
                                     client_ip=_client_ip(request))
        except ConsentError as error:
            status = 429 if isinstance(error, TooManyAttempts) else (
                403 if isinstance(error, IdentityLocked) else 400)
            return _identity_form(request, visit, error=error.message, status=status)
        _set_verified(request, visit, factor)
        return HttpResponseRedirect(_next_step(visit, then=request.POST.get("then", "")))
    transfer = _public_transfer_notice(visit)
    _mark_opened(visit, notice_shown=transfer)
    if _verified_factor(request, visit):
        # The next step (status or notice) shows the Art. 27 notice too.
        return HttpResponseRedirect(_next_step(visit))
    return _identity_form(request, visit)


def _public_transfer_notice(visit: _Visit) -> Notice | None:
    """The Art. 27 notice the landing shows before any identity check: public information
    about the plan (who receives, what, when, how to object). None when the request has no
    notice items, or its plan is no longer in force (nothing would move on it)."""
    if not visit.items().notice or not visit.plan.in_force:
        return None
    return visit.notice(Notice.Kind.TRANSFER)


# What the landing's buttons under the Art. 27 notice ask to do once the identity is checked.
_THEN_STEPS = ("early", "object")


def _next_step(visit: _Visit, *, then: str = "") -> str:
    """Where the chosen button leads ("지금 이전하기", "이전 거부하기" under the notice);
    otherwise a first visit goes to the notice, a later one (or one with nothing to consent
    to, only an Art. 27 notice) to the current decision."""
    if then in _THEN_STEPS and visit.items().notice:
        return visit.url(then)
    if not request_is_open(visit.req):  # reached through the way back in, answers closed
        return visit.url("status")
    has_record = consent_current(request=visit.req) is not None
    if has_record or not visit.items().consent:
        return visit.url("status")
    return visit.url("notice")


def _identity_form(request, visit: _Visit, *, error: str = "", status: int = 200):
    locked = identity_locked(visit.req)
    transfer = _public_transfer_notice(visit)
    if not error and not locked:
        return _blank_identity_form(request, visit, transfer)
    return _page(request, "consent/verify.html", {
        "visit": visit, "error": error, "locked": locked, "transfer": transfer,
        "has_consent": bool(visit.items().consent),
    }, status=status)


def _blank_identity_form(request, visit: _Visit, transfer: Notice | None) -> HttpResponse:
    """The identity form as first shown (below the Art. 27 notice when there is one): the page
    every SMS link opens, a shared copy: the notice is the same for every subject of the plan
    and kind."""
    return _shared_page(request, visit, "consent/verify.html", {
        "error": "", "locked": False, "has_consent": bool(visit.items().consent),
        "transfer": ({"version": transfer.version, "text": transfer.text}
                     if transfer else None),
    })


def _mark_opened(visit: _Visit, *, notice_shown: Notice | None) -> None:
    """First opening of the request's links: timestamp, status, audit (once, race-safe).

    ``notice_shown``: the Art. 27 notice this opening shows the subject. Its first showing is
    evidence that the notice reached them (`NoticeChannel.LINK`, referenced by the request),
    recorded in the same transaction as the timestamp, so once however many tabs open at once.
    """
    if visit.req.opened_at is not None:
        return
    now = timezone.now()
    with transaction.atomic():
        if not ConsentRequest.objects.filter(pk=visit.req.pk, opened_at__isnull=True).update(
                opened_at=now):
            return
        ConsentRequest.objects.filter(pk=visit.req.pk, status__in=_PRE_OPENED).update(
            status=ConsentRequest.Status.OPENED)
        audit_event(by=system_actor("consent.page"), action="consent.link_opened",
                    target=visit.req,
                    details={"request": str(visit.req.public_id),
                             "notice_shown": notice_shown.text_hash if notice_shown else ""})
        if notice_shown is not None:
            _notice_reached_by_link(visit, now)


def _notice_reached_by_link(visit: _Visit, now) -> None:
    subject = visit.subject
    try:
        with transaction.atomic():  # a refusal must not undo the opening itself
            notice_evidence_record(
                plan=visit.plan, by=(AuditEvent.ActorType.SUBJECT, f"subject:{subject.public_id}"),
                evidence=[Evidence(subject, NoticeChannel.LINK, now, str(visit.req.public_id))])
    except GovernanceError:
        # Governance refuses evidence it cannot stand behind (say, a plan that left force a
        # moment ago): the page still shows, and the subject stays unreached by this link.
        log.exception("notice evidence refused for request %s", visit.req.public_id)
