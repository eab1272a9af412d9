"""Consent records in the admin: read-only, and the form an officer records a consent
taken by phone with (through the decision services)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.admin import NoEditAdmin
from consent.admin.campaigns import item_choices
from consent.models import ConsentRecord, ConsentRequest
from consent.services.errors import ConsentError
from officers.access import AccessAction
from officers.access_admin import AccessLoggedAdmin


class PhoneRecordForm(forms.Form):
    ACTIONS = [("answer", "응답 (동의/거부)"), ("withdraw", "동의 철회"),
               ("object", "이전 거부 (제27조)")]
    request_id = forms.UUIDField(label="동의 요청 ID", help_text="통화 중 확인한 요청 ID")
    action = forms.ChoiceField(label="구분", choices=ACTIONS)
    agreed = forms.MultipleChoiceField(label="동의 항목", required=False,
                                       widget=forms.CheckboxSelectMultiple)
    declined = forms.MultipleChoiceField(label="거부 항목", required=False,
                                         widget=forms.CheckboxSelectMultiple)
    reason = forms.CharField(label="사유 (필수)", widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="예: 콜센터 통화로 본인 확인 후 구두 동의 (통화 기록 번호)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(k, f"{label} ({k})") for k, label in item_choices()]
        self.fields["agreed"].choices = choices
        self.fields["declined"].choices = choices

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("사유를 입력해 주세요.")
        return reason

    def clean_request_id(self):
        request = (ConsentRequest.objects.select_related("campaign__plan", "subject")
                   .filter(public_id=self.cleaned_data["request_id"]).first())
        if request is None:
            raise forms.ValidationError("해당 동의 요청이 없습니다.")
        return request


@admin.register(ConsentRecord)
class ConsentRecordAdmin(AccessLoggedAdmin, NoEditAdmin):
    list_display = ("receipt_id", "action", "channel", "subject", "plan", "officer",
                    "created_at")
    list_filter = ("action", "channel")
    search_fields = ("receipt_id", "request__public_id")
    fields = ("receipt_id", "plan", "subject", "request", "notice", "notice_hash",
              "sms_message", "changes", "action", "items_agreed", "items_declined", "channel",
              "identity_factor", "officer", "reason", "created_at")
    change_list_template = "admin/consent/consentrecord/change_list.html"
    list_select_related = ("subject", "plan", "officer")
    access_target_type = "consent.consentrecord"
    access_fields = ("consent.items_agreed", "consent.items_declined", "consent.channel",
                     "consent.reason")

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.subject.public_id]

    def access_target_id(self, obj) -> str:
        return str(obj.receipt_id)

    def get_urls(self):
        return [path("phone/", self.admin_site.admin_view(self.phone_view),
                     name="consent_consentrecord_phone"), *super().get_urls()]

    def has_phone_permission(self, request) -> bool:
        return request.user.has_perm("consent.add_consentrecord")

    def phone_view(self, request: HttpRequest):
        from consent.services.decisions import consent_answer, consent_object, consent_withdraw

        if not self.has_phone_permission(request):
            raise PermissionDenied
        form = PhoneRecordForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            common = {"request": data["request_id"], "channel": ConsentRecord.Channel.PHONE,
                      "identity_factor": "officer_call", "officer": request.user,
                      "reason": data["reason"]}
            try:
                if data["action"] == "answer":
                    record = consent_answer(agreed=data["agreed"], declined=data["declined"],
                                            **common)
                elif data["action"] == "withdraw":
                    record = consent_withdraw(**common)
                else:
                    record = consent_object(**common)
            except ConsentError as exc:
                form.add_error(None, exc.message)
            else:
                self._access(request, action=AccessAction.INPUT,
                             subjects=[record.subject.public_id],
                             target_id=str(record.receipt_id), extra={"page": "phone"})
                self.message_user(
                    request, f"전화 응답을 기록했습니다 (영수증 {record.receipt_id}).",
                    messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:consent_consentrecord_change", args=[record.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "전화로 받은 응답 기록 (consent taken by phone)", "form": form}
        return TemplateResponse(request, "admin/consent/consentrecord/phone.html", context)
