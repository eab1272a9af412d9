"""The user's refund page: after objecting to the move, ask for the balance back instead.

Reached from the consent status page through the same personal link and identity check
(`consent.views.link_view`); it shows only the user's own balance and case.
"""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.urls import reverse

from audit.models import AuditEvent
from consent.views import _page, link_view
from governance.models import DataSubject
from settlement.models import RefundCase
from settlement.selectors import accepted_record, refund_case_of, subject_objected
from settlement.services import RefundError, refund_case_request


@link_view(verified=True, methods=("GET", "POST"))
def refund(request, visit):
    if visit.subject.kind != DataSubject.Kind.USER:
        return HttpResponseRedirect(visit.url("status"))
    here = reverse("settlement:refund", args=[visit.token])
    error = ""
    if request.method == "POST":
        try:
            refund_case_request(
                plan=visit.plan, subject=visit.subject, channel=RefundCase.Channel.WEB,
                by=(AuditEvent.ActorType.SUBJECT, f"subject:{visit.subject.public_id}"))
            return HttpResponseRedirect(here + "?done=1")
        except RefundError as exc:
            error = exc.message
    record = accepted_record(visit.plan, visit.subject)
    return _page(request, "settlement/refund.html", {
        "visit": visit, "here": here, "error": error, "done": request.GET.get("done") == "1",
        "case": refund_case_of(visit.plan, visit.subject),
        "balance": record.certificate_balance if record else None,
        "objected": subject_objected(visit.plan, visit.subject),
    }, status=409 if error else 200)
