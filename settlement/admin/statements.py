"""The settlement statements and their co-signatures (a party that uses the admin hands its
signature to an officer)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from audit.services import officer_actor
from governance.models import TransferPlan
from settlement.admin.common import SettlementAdmin, SignedByPartyForm, short_id_column
from settlement.models import PartyRole, SettlementStatement
from settlement.services import (
    plan_parties,
    statement_create,
    statement_sign,
)
from transfers.services import TransferError


@admin.register(SettlementStatement)
class SettlementStatementAdmin(SettlementAdmin):
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

    short_id = short_id_column("명세서")

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
        form = SignedByPartyForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if operator := form.party(statement.plan):
                try:
                    statement_sign(statement=statement, operator=operator,
                                   by=officer_actor(request.user), **form.signed())
                except TransferError as exc:
                    form.refused(exc)
                else:
                    return HttpResponseRedirect(reverse(
                        "admin:settlement_settlementstatement_change", args=[statement.pk]))
        return self.page(request, "admin/settlement/partydeclaration/signed.html",
                         f"명세서 서명 등록 — {statement}", form=form, statement=statement)
