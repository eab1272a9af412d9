"""Later visits: the current decision (status), withdrawal, objection, moving early
(Art. 27) and taking that back, and the receipts."""

from __future__ import annotations

from django.http import Http404, HttpResponse, HttpResponseRedirect

from audit.signing import service_key_id
from consent.models import ConsentRecord, Notice
from consent.receipts import receipt_build, receipt_file_bytes
from consent.selectors import consent_history, consent_record_for_request
from consent.selectors_page import provision_since, subject_notice_reached, subject_state
from consent.services.decisions import consent_object, consent_withdraw, request_is_open
from consent.services.early import AlreadyMoved, consent_early_request, consent_early_withdraw
from consent.services.errors import ConsentError
from consent.views.links import _error_page, _page, _Visit, bad_link, link_view

# --- Later visits: the current decision, withdrawal, objection --------------------------


@link_view(verified=True, after_close=True)
def status(request, visit: _Visit):
    """What the subject sees after acting: the consent answers, and for Art. 27 items how
    and when the notice reached them, their early request and objection; every receipt.
    Read afresh on each visit (no shared copy): it is the page that must never be stale."""
    items = visit.items()
    state = subject_state(plan=visit.plan, subject=visit.subject)
    granted = set(state.fields_granted) if state and state.withdrawn_at is None else set()
    declined = set(state.fields_declined) if state else set()
    history = consent_history(request=visit.req)
    return _page(request, "consent/status.html", {
        "visit": visit, "state": state, "items": items,
        "agreed": [i for k, i in items.consent.items() if k in granted],
        "declined": [i for k, i in items.consent.items() if k in declined and k not in granted],
        "pending": [i for k, i in items.consent.items() if k not in granted | declined],
        "answered": bool(granted | declined),
        "can_withdraw": bool(granted), "objected": bool(state and state.objected),
        "answer_open": request_is_open(visit.req),
        "history": history,
        **(_transfer_status(visit, state, history) if items.notice else {}),
    })


def _transfer_status(visit: _Visit, state, history: list[ConsentRecord]) -> dict:
    """The Art. 27 part of the status page."""
    items = visit.items().notice
    early_at = state.early_requested_at if state else None
    last_early = next((r for r in history if r.action in (ConsentRecord.Action.EARLY_REQUEST,
                                                          ConsentRecord.Action.EARLY_WITHDRAW)),
                      None)
    moved = (provision_since(plan=visit.plan, items=list(items), since=early_at)
             if early_at else None)
    return {
        "transfer": visit.notice(Notice.Kind.TRANSFER),
        "transfer_items": list(items.values()),
        "reached": subject_notice_reached(plan=visit.plan, subject=visit.subject),
        "early_at": early_at, "early_moved": moved,
        "early_withdrawn": (last_early if early_at is None and last_early is not None
                            and last_early.action == ConsentRecord.Action.EARLY_WITHDRAW
                            else None),
        "cutover_at": visit.plan.cutover_at,
    }


@link_view(verified=True, methods=("GET", "POST"), after_close=True)
def withdraw(request, visit: _Visit):
    if request.method == "POST":
        try:
            record = consent_withdraw(request=visit.req, channel=ConsentRecord.Channel.WEB,
                                      identity_factor=visit.factor)
        except ConsentError as error:
            return _error_page(request, visit, error)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items().consent
    state = visit.req.consent_state
    granted = [items[k] for k in (state.fields_granted if state and not state.withdrawn_at
                                  else []) if k in items]
    return _page(request, "consent/withdraw.html", {"visit": visit, "granted": granted})


@link_view(verified=True, methods=("GET", "POST"), after_close=True)
def object_transfer(request, visit: _Visit):
    if request.method == "POST":
        try:
            record = consent_object(request=visit.req, channel=ConsentRecord.Channel.WEB,
                                    identity_factor=visit.factor)
        except ConsentError as error:
            return _error_page(request, visit, error)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items()
    if not items.notice:
        return HttpResponseRedirect(visit.url("status"))
    transfer = visit.notice(Notice.Kind.TRANSFER)
    return _page(request, "consent/object.html", {
        "visit": visit, "transfer": transfer, "items": list(items.notice.values())})


# --- Moving early (Art. 27) -------------------------------------------------------------


@link_view(verified=True, methods=("GET", "POST"), after_close=True)
def early(request, visit: _Visit):
    """"지금 이전하기": the subject asks for its Art. 27 items to move now."""
    if request.method == "POST":
        try:
            record = consent_early_request(
                request=visit.req, channel=ConsentRecord.Channel.WEB,
                identity_factor=visit.factor,
                notice_hash=request.POST.get("notice_hash") or None)
        except ConsentError as error:
            return _error_page(request, visit, error)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items()
    if not items.notice:
        return HttpResponseRedirect(visit.url("status"))
    state = subject_state(plan=visit.plan, subject=visit.subject)
    return _page(request, "consent/early.html", {
        "visit": visit, "items": list(items.notice.values()),
        "transfer": visit.notice(Notice.Kind.TRANSFER),
        "objected": bool(state and state.objected),
        "early_at": state.early_requested_at if state else None,
    })


@link_view(verified=True, methods=("GET", "POST"), after_close=True)
def early_withdraw(request, visit: _Visit):
    """Taking the early request back, while no release has carried it."""
    if request.method == "POST":
        try:
            record = consent_early_withdraw(request=visit.req,
                                            channel=ConsentRecord.Channel.WEB,
                                            identity_factor=visit.factor)
        except AlreadyMoved as error:
            return _page(request, "consent/problem.html", {
                "visit": visit, "message": error.message, "offer_object": True}, status=409)
        except ConsentError as error:
            return _error_page(request, visit, error)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items().notice
    state = subject_state(plan=visit.plan, subject=visit.subject)
    if not items or state is None or state.early_requested_at is None:
        return HttpResponseRedirect(visit.url("status"))
    moved = provision_since(plan=visit.plan, items=list(items), since=state.early_requested_at)
    return _page(request, "consent/early_withdraw.html", {
        "visit": visit, "items": list(items.values()), "early_at": state.early_requested_at,
        "moved": moved, "objected": state.objected,
    })


# --- Receipts ---------------------------------------------------------------------------


def _record_or_404(visit: _Visit, receipt_id) -> ConsentRecord:
    record = consent_record_for_request(request=visit.req, receipt_id=receipt_id)
    if record is None:
        raise Http404
    return record


@link_view(verified=True, after_close=True)
def receipt(request, visit: _Visit, receipt_id):
    try:
        record = _record_or_404(visit, receipt_id)
    except Http404:
        return bad_link(request)
    return _page(request, "consent/receipt.html", {
        "visit": visit, "record": record, "receipt": receipt_build(record),
        "done": request.GET.get("done") == "1", "key_id": service_key_id(),
    })


@link_view(verified=True, after_close=True)
def receipt_download(request, visit: _Visit, receipt_id):
    try:
        record = _record_or_404(visit, receipt_id)
    except Http404:
        return bad_link(request)
    response = HttpResponse(receipt_file_bytes(record),
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="consent-receipt-{record.receipt_id}.json"')
    return response
