"""What the settlement admins share: pages in the admin's frame, columns, and the form
of a signed submission a party hands to an officer."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from audit.admin import NoEditAdmin
from governance.models import Operator, TransferPlan
from settlement.models import PartyRole
from settlement.services import plan_parties
from transfers.services import TransferError


class SettlementAdmin(NoEditAdmin):
    """What the settlement admins share: their own pages in the admin's frame, refused (403)
    to a staff account that may not view them, as the admin's own pages are."""

    def page(self, request: HttpRequest, template: str, title: str, **context
             ) -> TemplateResponse:
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": title,
            **context})

    def view_required(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied


def short_id_column(description: str):
    """A list column with the first eight characters of the row's public id."""
    @admin.display(description=description)
    def short_id(self, obj) -> str:
        return str(obj.public_id)[:8]
    return short_id


def won(amount: int) -> str:
    return f"{amount:,}"


def reconciliation_url(plan: TransferPlan) -> str:
    return reverse("admin:transfers_release_reconciliation", args=[plan.pk])


class SignedByPartyForm(forms.Form):
    """A party's signed submission handed to an officer: the party's role on the plan, the
    exact payload and its Ed25519 signature."""

    role_label = "서명 기관의 역할"
    role = forms.ChoiceField(choices=PartyRole.choices, initial=PartyRole.CITY)
    payload = forms.CharField(label="서명된 본문 (base64)", widget=forms.Textarea)
    signature = forms.CharField(label="서명 (base64, Ed25519)", max_length=100)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].label = self.role_label

    def party(self, plan: TransferPlan) -> Operator | None:
        """The operator playing the role on ``plan``; None (an error on the form) if none."""
        operator_id = plan_parties(plan).get(self.cleaned_data["role"])
        if operator_id is None:
            self.add_error("role", "이 계획에는 그 역할의 기관이 없습니다.")
            return None
        return Operator.objects.get(pk=operator_id)

    def signed(self) -> dict[str, str]:
        return {"payload_b64": self.cleaned_data["payload"].strip(),
                "signature_b64": self.cleaned_data["signature"].strip()}

    def refused(self, exc: TransferError) -> None:
        self.add_error(None, f"{exc.code}: {exc.message}")
