"""Refund cases (with the officer's form for a request made by phone) and the disposition
report of every won of a plan, linked from the reconciliation report."""

from __future__ import annotations

import csv
import io
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from audit.admin import NoEditAdmin
from audit.services import officer_actor
from governance.models import DataSubject, Operator, TransferPlan
from officers.access import AccessRefused, access_reason_clean, access_record, client_address
from officers.access_admin import AccessLoggedAdmin
from settlement.disposition import held_label, plan_disposition
from settlement.models import (
    BalanceList,
    PartyDeclaration,
    PartyRole,
    RefundCase,
    SettlementStatement,
)
from settlement.selectors import balance_lists_of, declarations_side_by_side
from settlement.services import (
    RefundError,
    declaration_receive,
    plan_parties,
    refund_case_request,
    statement_create,
    statement_sign,
)
from transfers.services import TransferError


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
class RefundCaseAdmin(AccessLoggedAdmin, NoEditAdmin):
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


class SignedDeclarationForm(forms.Form):
    plan = forms.ModelChoiceField(label="이전 계획", queryset=TransferPlan.objects.exclude(
        status__in=(TransferPlan.Status.DRAFT, TransferPlan.Status.SUBMITTED)))
    role = forms.ChoiceField(label="신고 기관의 역할", choices=PartyRole.choices,
                             initial=PartyRole.CITY)
    payload = forms.CharField(label="서명된 본문 (base64)", widget=forms.Textarea)
    signature = forms.CharField(label="서명 (base64, Ed25519)", max_length=100)


@admin.register(PartyDeclaration)
class PartyDeclarationAdmin(NoEditAdmin):
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
        return f"{obj.balance_sum:,}"

    @admin.display(description="발행 수수료 합계 (원)")
    def fee_won(self, obj):
        return f"{obj.fee_sum:,}"

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
            data = form.cleaned_data
            plan = data["plan"]
            operator_id = plan_parties(plan).get(data["role"])
            if operator_id is None:
                form.add_error("role", "이 계획에는 그 역할의 기관이 없습니다.")
            else:
                try:
                    declaration = declaration_receive(
                        plan=plan, operator=Operator.objects.get(pk=operator_id),
                        payload_b64=data["payload"].strip(),
                        signature_b64=data["signature"].strip(),
                        by=officer_actor(request.user))
                except TransferError as exc:
                    form.add_error(None, f"{exc.code}: {exc.message}")
                else:
                    self.message_user(request, f"{declaration} 신고를 받았습니다.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:settlement_declarations_report",
                                                        args=[plan.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "서명된 신고 합계 등록 (a party's signed declaration)",
                   "form": form}
        return TemplateResponse(request, "admin/settlement/partydeclaration/signed.html",
                                context)

    def report_view(self, request: HttpRequest, plan_id: int):
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        plan = get_object_or_404(TransferPlan, pk=plan_id)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": f"기관별 합계 — {plan}", "plan": plan,
                   "report": declarations_side_by_side(plan),
                   "lists": balance_lists_of(plan),
                   "reconciliation_url": reverse("admin:transfers_release_reconciliation",
                                                 args=[plan.pk])}
        return TemplateResponse(request, "admin/settlement/declarations.html", context)


class DownloadReasonForm(forms.Form):
    reason = forms.CharField(label="내려받는 사유", max_length=500)


@admin.register(BalanceList)
class BalanceListAdmin(NoEditAdmin):
    list_display = ("short_id", "plan", "role", "operator", "as_of", "line_count", "status",
                    "differing", "compared_at")
    list_filter = ("status", "role", "plan")
    fields = ("public_id", "plan", "role", "operator", "as_of", "line_count", "body_sha256",
              "status", "summary", "key", "nonce", "received_at", "compared_at")
    readonly_fields = fields

    @admin.display(description="목록")
    def short_id(self, obj):
        return str(obj.public_id)[:8]

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
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
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
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": f"잔액 차이 보고서 내려받기 — {balance_list}", "form": form,
                   "summary": balance_list.summary}
        return TemplateResponse(request, "admin/settlement/balancelist/report.html", context)


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


class StatementSignatureForm(forms.Form):
    role = forms.ChoiceField(label="서명 기관의 역할", choices=PartyRole.choices,
                             initial=PartyRole.CITY)
    payload = forms.CharField(label="서명된 본문 (base64)", widget=forms.Textarea)
    signature = forms.CharField(label="서명 (base64, Ed25519)", max_length=100)


@admin.register(SettlementStatement)
class SettlementStatementAdmin(NoEditAdmin):
    list_display = ("short_id", "plan", "signed_by", "awaiting", "created_at")
    list_filter = ("plan",)
    fields = ("public_id", "plan", "sha256", "made_by", "created_at", "signature_table",
              "content_text")
    readonly_fields = fields

    @admin.display(description="작성자")
    def made_by(self, obj):
        """The officer by name (the record keeps the actor id, user:<pk>)."""
        from django.contrib.auth import get_user_model

        kind, _, pk = (obj.created_by or "").partition(":")
        user = (get_user_model().objects.filter(pk=pk).first()
                if kind == "user" and pk.isdigit() else None)
        return f"{user.get_username()} ({obj.created_by})" if user else obj.created_by

    @admin.display(description="명세서")
    def short_id(self, obj):
        return str(obj.public_id)[:8]

    @admin.display(description="서명한 기관")
    def signed_by(self, obj):
        return ", ".join(f"{s.get_role_display()} ({s.operator.code})"
                         for s in obj.signatures.select_related("operator")) or "-"

    @admin.display(description="서명 대기")
    def awaiting(self, obj):
        signed = set(obj.signatures.values_list("role", flat=True))
        waiting = [PartyRole(r).label for r, op in plan_parties(obj.plan).items()
                   if op and r not in signed]
        return ", ".join(waiting) or "모두 서명함 (co-signed by every party)"

    @admin.display(description="서명")
    def signature_table(self, obj):
        rows = [(s.get_role_display(), s.operator.code, s.key.key_id,
                 f"{timezone.localtime(s.signed_at):%Y-%m-%d %H:%M:%S %Z}")
                for s in obj.signatures.select_related("operator", "key")]
        if not rows:
            return "아직 서명이 없습니다."
        return format_html("<table>{}</table>", format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", rows))

    @admin.display(description="명세서 (JSON)")
    def content_text(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(json.loads(bytes(obj.content)),
                                                       ensure_ascii=False, indent=2))

    def get_urls(self):
        return [
            path("create/<int:plan_id>/", self.admin_site.admin_view(self.create_view),
                 name="settlement_statement_create"),
            path("<int:pk>/sign/", self.admin_site.admin_view(self.sign_view),
                 name="settlement_statement_sign"),
            *super().get_urls()]

    def create_view(self, request: HttpRequest, plan_id: int):
        if request.method != "POST" or not request.user.has_perm(
                "settlement.add_settlementstatement"):
            raise PermissionDenied
        plan = get_object_or_404(TransferPlan, pk=plan_id)
        try:
            statement = statement_create(plan=plan, by=officer_actor(request.user))
        except TransferError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:settlement_disposition", args=[plan.pk]))
        self.message_user(request, "정산 명세서를 만들었습니다: 각 기관의 서명을 기다립니다.",
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:settlement_settlementstatement_change",
                                            args=[statement.pk]))

    def sign_view(self, request: HttpRequest, pk: int):
        """A party that uses the admin (the city) hands over its signed co-signature."""
        if not request.user.has_perm("settlement.add_statementsignature"):
            raise PermissionDenied
        statement = get_object_or_404(SettlementStatement, pk=pk)
        form = StatementSignatureForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            operator_id = plan_parties(statement.plan).get(data["role"])
            if operator_id is None:
                form.add_error("role", "이 계획에는 그 역할의 기관이 없습니다.")
            else:
                try:
                    statement_sign(statement=statement,
                                   operator=Operator.objects.get(pk=operator_id),
                                   payload_b64=data["payload"].strip(),
                                   signature_b64=data["signature"].strip(),
                                   by=officer_actor(request.user))
                except TransferError as exc:
                    form.add_error(None, f"{exc.code}: {exc.message}")
                else:
                    return HttpResponseRedirect(reverse(
                        "admin:settlement_settlementstatement_change", args=[statement.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": f"명세서 서명 등록 — {statement}", "form": form,
                   "statement": statement}
        return TemplateResponse(request, "admin/settlement/partydeclaration/signed.html",
                                context)
