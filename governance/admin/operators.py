"""Operators and their keys (a key is registered through its service, never edited)."""

from __future__ import annotations

import base64
import binascii

from django import forms
from django.contrib import admin, messages

from governance.admin.audited import AuditedAdmin
from governance.models import Operator, OperatorKey
from governance.services import GovernanceError, operator_key_register

# --- Operators and keys -------------------------------------------------------------------


class OperatorKeyInline(admin.TabularInline):
    model = OperatorKey
    fk_name = "operator"
    extra = 0
    can_delete = False
    fields = ("purpose", "key_id", "valid_from", "valid_until", "replaced_by")
    readonly_fields = fields
    verbose_name_plural = "등록된 공개키 (교체 이력 포함)"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Operator)
class OperatorAdmin(AuditedAdmin):
    list_display = ("code", "name", "role", "phone", "privacy_officer_name",
                    "privacy_officer_contact")
    list_filter = ("role",)
    search_fields = ("code", "name", "name_en")
    inlines = [OperatorKeyInline]


class OperatorKeyForm(forms.ModelForm):
    public_key_b64 = forms.CharField(label="공개키 (base64, raw 32 bytes)", max_length=100)

    class Meta:
        model = OperatorKey
        fields = ("operator", "purpose", "valid_from")

    def clean_public_key_b64(self) -> bytes:
        try:
            raw = base64.b64decode(self.cleaned_data["public_key_b64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise forms.ValidationError("base64 형식이 아닙니다.") from exc
        if len(raw) != 32:
            raise forms.ValidationError("공개키는 32바이트여야 합니다.")
        return raw


@admin.register(OperatorKey)
class OperatorKeyAdmin(admin.ModelAdmin):
    """Keys are registered, never edited: a new key replaces the current one."""

    form = OperatorKeyForm
    list_display = ("operator", "purpose", "key_id", "valid_from", "valid_until")
    list_filter = ("operator", "purpose")
    readonly_fields = ("key_id", "valid_until", "replaced_by")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            key = operator_key_register(
                operator=form.cleaned_data["operator"], purpose=form.cleaned_data["purpose"],
                public_key=form.cleaned_data["public_key_b64"], by=request.user,
                valid_from=form.cleaned_data.get("valid_from"))
        except GovernanceError as exc:
            # Reached only on a race or duplicate; the form validated the shape.
            messages.error(request, str(exc))
            raise
        obj.pk = key.pk
