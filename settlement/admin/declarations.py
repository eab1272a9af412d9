"""Each party's signed totals (the city's entered by an officer) side by side, and the
per-subject balance lists with their report of differences."""

from __future__ import annotations

import csv
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from audit.services import officer_actor
from governance.models import TransferPlan
from officers.access import AccessRefused, access_reason_clean, access_record, client_address
from settlement.admin.common import (
    SettlementAdmin,
    SignedByPartyForm,
    reconciliation_url,
    short_id_column,
    won,
)
from settlement.models import BalanceList, PartyDeclaration
from settlement.selectors import balance_lists_of, declarations_side_by_side
from settlement.services import declaration_receive
from transfers.services import TransferError


class SignedDeclarationForm(SignedByPartyForm):
    role_label = "신고 기관의 역할"
    plan = forms.ModelChoiceField(label="이전 계획", queryset=TransferPlan.objects.exclude(
        status__in=(TransferPlan.Status.DRAFT, TransferPlan.Status.SUBMITTED)))
    field_order = ("plan", "role", "payload", "signature")


@admin.register(PartyDeclaration)
class PartyDeclarationAdmin(SettlementAdmin):
    """Each party's signed totals. The city (which uses the admin, not the operator API)
    hands its signed declaration to an officer, who enters it here: it is verified against
    the city's registered key exactly as an operator's would be."""

    list_display = ("plan", "role", "operator", "as_of", "balance_won", "fee_won",
                    "received_at")
    list_filter = ("role", "plan")
    fields = ("plan", "role", "operator", "as_of", "subjects", "balance_sum", "fee_sum",
              "key", "nonce", "received_at")
    readonly_fields = fields
    change_list_template = "admin/settlement/partydeclaration/change_list.html"

    @admin.display(description="잔액 합계 (원)")
    def balance_won(self, obj):
        return won(obj.balance_sum)

    @admin.display(description="발행 수수료 합계 (원)")
    def fee_won(self, obj):
        return won(obj.fee_sum)

    def get_urls(self):
        return [
            path("signed/", self.admin_site.admin_view(self.signed_view),
                 name="settlement_partydeclaration_signed"),
            path("report/<int:plan_id>/", self.admin_site.admin_view(self.report_view),
                 name="settlement_declarations_report"),
            *super().get_urls()]

    def signed_view(self, request: HttpRequest):
        if not request.user.has_perm("settlement.add_partydeclaration"):
            raise PermissionDenied
        form = SignedDeclarationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            plan = form.cleaned_data["plan"]
            if operator := form.party(plan):
                try:
                    declaration = declaration_receive(plan=plan, operator=operator,
                                                      by=officer_actor(request.user),
                                                      **form.signed())
                except TransferError as exc:
                    form.refused(exc)
                else:
                    self.message_user(request, f"{declaration} 신고를 받았습니다.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:settlement_declarations_report",
                                                        args=[plan.pk]))
        return self.page(request, "admin/settlement/partydeclaration/signed.html",
                         "서명된 신고 합계 등록 (a party's signed declaration)", form=form)

    def report_view(self, request: HttpRequest, plan_id: int):
        self.view_required(request)
        plan = get_object_or_404(TransferPlan, pk=plan_id)
        return self.page(request, "admin/settlement/declarations.html", f"기관별 합계 — {plan}",
                         plan=plan, report=declarations_side_by_side(plan),
                         lists=balance_lists_of(plan), reconciliation_url=reconciliation_url(plan))


class DownloadReasonForm(forms.Form):
    reason = forms.CharField(label="내려받는 사유", max_length=500)


@admin.register(BalanceList)
class BalanceListAdmin(SettlementAdmin):
    list_display = ("short_id", "plan", "role", "operator", "as_of", "line_count", "status",
                    "differing", "compared_at")
    list_filter = ("status", "role", "plan")
    fields = ("public_id", "plan", "role", "operator", "as_of", "line_count", "body_sha256",
              "status", "summary", "key", "nonce", "received_at", "compared_at")
    readonly_fields = fields

    short_id = short_id_column("목록")

    @admin.display(description="차이 (다름 / 수락에만 / 목록에만)")
    def differing(self, obj):
        s = obj.summary or {}
        return f"{s.get('differing', 0)} / {s.get('only_accepted', 0)} / {s.get('only_listed', 0)}"

    def get_urls(self):
        return [path("<int:list_id>/report/", self.admin_site.admin_view(self.report_view),
                     name="settlement_balancelist_report"), *super().get_urls()]

    def report_view(self, request: HttpRequest, list_id: int):
        """The subjects that differ, as CSV; a download of external ids, so it asks why and
        writes the access log (officers.access), like every export."""
        self.view_required(request)
        balance_list = get_object_or_404(BalanceList, pk=list_id)
        form = DownloadReasonForm(request.POST or None)
        reason = ""
        if request.method == "POST" and form.is_valid():
            try:
                # As every export: a reason that holds personal data is refused.
                reason = access_reason_clean(form.cleaned_data["reason"])
            except AccessRefused as refused:
                form.add_error("reason", refused.args[0])
        if reason:
            rows = list(balance_list.differences.select_related("subject").order_by("id"))
            access_record(by=request.user, address=client_address(request), action="download",
                          reason=reason,
                          subjects=[r.subject.public_id for r in rows if r.subject_id],
                          fields=["subject.external_id", "user.certificate_balance"],
                          target_type="settlement.balancelist",
                          target_id=str(balance_list.public_id),
                          extra={"export": "balance_differences", "rows": len(rows)})
            response = HttpResponse(differences_csv(balance_list, rows),
                                    content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="balance-differences-{str(balance_list.public_id)[:8]}'
                '.csv"')
            response["Cache-Control"] = "no-store"
            return response
        return self.page(request, "admin/settlement/balancelist/report.html",
                         f"잔액 차이 보고서 내려받기 — {balance_list}", form=form,
                         summary=balance_list.summary)


def differences_csv(balance_list: BalanceList, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    summary = balance_list.summary or {}
    writer.writerow(["# plan", balance_list.plan_id, "role", balance_list.role, "as_of",
                     balance_list.as_of.isoformat(), "difference_sum",
                     summary.get("difference_sum", 0)])
    writer.writerow(["kind", "external_id", "subject", "accepted_balance", "listed_balance",
                     "listed_fee", "difference"])
    for r in rows:
        difference = ("" if r.accepted_balance is None or r.listed_balance is None
                      else r.listed_balance - r.accepted_balance)
        writer.writerow([r.kind, r.external_id, r.subject.public_id if r.subject_id else "",
                         "" if r.accepted_balance is None else r.accepted_balance,
                         "" if r.listed_balance is None else r.listed_balance,
                         "" if r.listed_fee is None else r.listed_fee, difference])
    return out.getvalue()
