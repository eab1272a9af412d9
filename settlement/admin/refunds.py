"""Refund cases (with the officer's form for a request made by phone) and the disposition
report of every won of a plan, linked from the reconciliation report."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone

from audit.services import officer_actor
from governance.models import DataSubject, TransferPlan
from officers.access import access_record, client_address
from officers.access_admin import AccessLoggedAdmin
from settlement.admin.common import SettlementAdmin, reconciliation_url, short_id_column, won
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
class RefundCaseAdmin(AccessLoggedAdmin, SettlementAdmin):
    """A case shows a user's balance (the amount) and, on its page, the reason an officer
    typed (which may name the caller): the list page and each case's page are access
    entries (officers.access_admin), one per page view."""

    access_target_type = "settlement.refundcase"
    list_display = ("short_id", "plan", "subject_ref", "amount_won", "status", "channel",
                    "age", "refunded_at", "reference")
    list_filter = ("status", "channel", "plan")
    fields = ("public_id", "plan", "subject_ref", "operator", "amount_won", "status",
              "channel", "officer", "reason", "requested_at", "refunded_at", "reference",
              "confirmation_key", "confirmation_nonce", "confirmed_at")
    readonly_fields = fields
    change_list_template = "admin/settlement/refundcase/change_list.html"
    # What each page shows of the user: the list its balance and the case's state; a case's
    # page also the reason typed and the operator's reference.
    LIST_FIELDS = ("user.certificate_balance", "refund.status")
    CASE_FIELDS = (*LIST_FIELDS, "refund.reason", "refund.reference")

    def access_subjects_of(self, obj: RefundCase) -> list[str]:
        return [obj.subject.public_id]

    def access_target_id(self, obj: RefundCase) -> str:
        return str(obj.public_id)

    def _access(self, request, *, action: str, subjects, target_id: str, **kwargs) -> None:
        fields = self.LIST_FIELDS if target_id == "changelist" else self.CASE_FIELDS
        access_record(by=request.user, address=client_address(request), action=action,
                      subjects=subjects, fields=fields, target_type=self.access_target_type,
                      target_id=target_id, **kwargs)

    short_id = short_id_column("환불 건")

    @admin.display(description="정보주체 (가명 ID)")
    def subject_ref(self, obj: RefundCase):
        return obj.subject.public_id

    @admin.display(description="금액 (원)")
    def amount_won(self, obj: RefundCase):
        return won(obj.amount)

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
        return self.page(request, "admin/settlement/refundcase/phone.html",
                         "전화 환불 요청 기록 (refund requested by phone)", form=form)

    def disposition_view(self, request: HttpRequest, plan_id: int):
        """Where every won of the plan's accepted balance is (aggregates only)."""
        self.view_required(request)
        plan = get_object_or_404(TransferPlan, pk=plan_id)
        disposition = plan_disposition(plan)
        return self.page(request, "admin/settlement/disposition.html",
                         f"잔액 처리 내역 — {plan}", plan=plan, d=disposition,
                         **disposition_chart(disposition),
                         reconciliation_url=reconciliation_url(plan))


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
