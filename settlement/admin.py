"""Refund cases (with the officer's form for a request made by phone) and the disposition
report of every won of a plan, linked from the reconciliation report."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from audit.admin import NoEditAdmin
from audit.services import officer_actor
from governance.models import DataSubject, TransferPlan
from officers.access import access_record, client_address
from settlement.disposition import held_label, plan_disposition
from settlement.models import RefundCase
from settlement.services import RefundError, refund_case_request


class PhoneRefundForm(forms.Form):
    plan = forms.ModelChoiceField(
        label="이전 계획", queryset=TransferPlan.objects.filter(status__in=TransferPlan.IN_FORCE))
    external_id = forms.CharField(label="이용자 ID (기존 운영사의 ID)", max_length=64)
    reason = forms.CharField(label="사유 (통화 내용, 본인 확인 방법)", widget=forms.Textarea,
                             max_length=1000)


def _age(case: RefundCase) -> str:
    if case.status != RefundCase.Status.REQUESTED:
        return "-"
    days = (timezone.now() - case.requested_at).days
    return f"{days}일" if days else "오늘"


@admin.register(RefundCase)
class RefundCaseAdmin(NoEditAdmin):
    list_display = ("short_id", "plan", "subject_ref", "amount_won", "status", "channel",
                    "age", "refunded_at", "reference")
    list_filter = ("status", "channel", "plan")
    fields = ("public_id", "plan", "subject_ref", "operator", "amount_won", "status",
              "channel", "officer", "reason", "requested_at", "refunded_at", "reference",
              "confirmation_key", "confirmation_nonce", "confirmed_at")
    readonly_fields = fields
    change_list_template = "admin/settlement/refundcase/change_list.html"

    @admin.display(description="환불 건")
    def short_id(self, obj: RefundCase):
        return str(obj.public_id)[:8]

    @admin.display(description="정보주체 (가명 ID)")
    def subject_ref(self, obj: RefundCase):
        return obj.subject.public_id

    @admin.display(description="금액 (원)")
    def amount_won(self, obj: RefundCase):
        return f"{obj.amount:,}"

    @admin.display(description="경과")
    def age(self, obj: RefundCase):
        return _age(obj)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("plan", "subject")

    def get_urls(self):
        return [
            path("phone/", self.admin_site.admin_view(self.phone_view),
                 name="settlement_refundcase_phone"),
            path("disposition/<int:plan_id>/", self.admin_site.admin_view(self.disposition_view),
                 name="settlement_disposition"),
            *super().get_urls()]

    def phone_view(self, request: HttpRequest):
        """An officer records a user's refund request taken by phone (the user objected)."""
        if not request.user.has_perm("settlement.add_refundcase"):
            raise PermissionDenied
        form = PhoneRefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            plan = data["plan"]
            subject = DataSubject.objects.filter(
                source_operator_id=plan.from_operator_id, kind=DataSubject.Kind.USER,
                external_id=data["external_id"].strip()).first()
            if subject is None:
                form.add_error("external_id", "이 계획의 기존 운영사에 그런 이용자가 없습니다.")
            else:
                try:
                    case = refund_case_request(plan=plan, subject=subject,
                                               channel=RefundCase.Channel.PHONE,
                                               by=officer_actor(request.user),
                                               officer=request.user, reason=data["reason"])
                except RefundError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(request, f"환불 건 {str(case.public_id)[:8]} "
                                               f"({case.amount:,}원)을 열었습니다.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(
                        reverse("admin:settlement_refundcase_change", args=[case.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "전화 환불 요청 기록 (refund requested by phone)", "form": form}
        return TemplateResponse(request, "admin/settlement/refundcase/phone.html", context)

    def disposition_view(self, request: HttpRequest, plan_id: int):
        """Where every won of the plan's accepted balance is (aggregates only)."""
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        plan = get_object_or_404(TransferPlan, pk=plan_id)
        disposition = plan_disposition(plan)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": f"잔액 처리 내역 — {plan}", "plan": plan, "d": disposition,
                   **disposition_chart(disposition),
                   "reconciliation_url": reverse("admin:transfers_release_reconciliation",
                                                 args=[plan.pk])}
        return TemplateResponse(request, "admin/settlement/disposition.html", context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id and request.method == "GET":
            case = RefundCase.objects.filter(pk=object_id).select_related("subject").first()
            if case is not None:
                # The reason an officer typed may name the caller: viewing it is an access.
                access_record(by=request.user, address=client_address(request), action="view",
                              subjects=[case.subject.public_id], fields=["refund.reason"],
                              target_type="settlement.refundcase",
                              target_id=str(case.public_id))
        return super().changeform_view(request, object_id, form_url, extra_context)


# Colours of the chart's parts (no CDN, no script: an inline SVG).
_COLOURS = {"moved": "#2e7d32", "refunded": "#1565c0", "refund_requested": "#64b5f6",
            "held": "#f9a825", "unaccounted": "#c62828"}


def disposition_chart(d) -> dict:
    """The parts of the accepted balance as rows and as one stacked bar (SVG widths in per
    mille of the accepted balance, so a part of one won out of billions still shows)."""
    parts = [("moved", "이전됨 (moved)", d.moved), ("refunded", "환불 완료 (refunded)", d.refunded),
             ("refund_requested", "환불 요청 (refund requested)", d.refund_requested)]
    parts += [("held", f"보류 — {held_label(reason)}", amount)
              for reason, amount in sorted(d.held.items(), key=lambda kv: -kv[1].won)]
    unaccounted = d.unaccounted
    if unaccounted.won or unaccounted.count:
        parts.append(("unaccounted", "미확인 (unaccounted)", unaccounted))
    total = max(d.accepted.won, sum(abs(a.won) for _k, _l, a in parts), 1)
    x, bars, rows = 0.0, [], []
    for kind, label, amount in parts:
        width = 1000 * abs(amount.won) / total
        if amount.won:
            bars.append({"x": round(x, 2), "width": round(max(width, 2), 2),
                         "colour": _COLOURS[kind], "label": label})
            x += width
        rows.append({"kind": kind, "label": label, "count": amount.count, "won": amount.won,
                     "share": f"{100 * amount.won / d.accepted.won:.2f}%" if d.accepted.won
                     else "-", "colour": _COLOURS[kind]})
    return {"bars": bars, "rows": rows}


def disposition_link(plan_id: int) -> str:
    url = reverse("admin:settlement_disposition", args=[plan_id])
    return format_html('<a href="{}">잔액 처리 내역 (every won)</a>', url)
