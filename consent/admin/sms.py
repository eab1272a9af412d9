"""SMS in the admin: messages (read-only, the token masked in their body), the review
queue that settles replies, and the numbers that opted out."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit.admin import NoEditAdmin
from consent.models import ConsentRequest, InboundSms, SmsMessage, SmsOptOut
from consent.services import replies as reply_services
from consent.services.errors import ConsentError
from officers.access import AccessAction
from officers.access_admin import AccessLoggedAdmin


@admin.register(SmsMessage)
class SmsMessageAdmin(AccessLoggedAdmin, NoEditAdmin):
    list_display = ("id", "request_ref", "purpose", "sequence", "status", "provider",
                    "attempts", "error_code", "submitted_at", "status_at")
    list_filter = ("status", "purpose", "provider")
    search_fields = ("provider_sid", "request__public_id")
    # No link (its hash is not needed here) and no number: the body has the token masked.
    fields = ("request_ref", "purpose", "sequence", "status", "body_redacted", "provider",
              "provider_sid", "attempts", "error_code", "claimed_by", "claimed_at",
              "not_before", "submitted_at", "status_at", "created_at")
    list_select_related = ("request__subject",)
    access_target_type = "consent.smsmessage"
    access_fields = ("sms.body_redacted", "sms.status")

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.request.subject.public_id]

    @admin.display(description="동의 요청")
    def request_ref(self, obj: SmsMessage) -> str:
        return str(obj.request.public_id)



class ResolveForm(forms.Form):
    DECISIONS = [("agree", "동의로 반영 (모든 동의 항목)"),
                 ("decline", "거부로 반영 (모든 동의 항목)"),
                 ("opt_out", "수신 거부 등록"), ("dismiss", "반영하지 않음 (무시)")]
    decision = forms.ChoiceField(label="처리", choices=DECISIONS, widget=forms.RadioSelect)
    request = forms.ModelChoiceField(label="반영할 동의 요청", required=False,
                                     queryset=ConsentRequest.objects.none())

    def __init__(self, *args, candidates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["request"].queryset = candidates if candidates is not None else \
            ConsentRequest.objects.none()
        self.fields["request"].label_from_instance = (
            lambda r: f"{r.public_id} — {r.campaign.name} ({r.get_status_display()})")


@admin.register(InboundSms)
class InboundSmsAdmin(AccessLoggedAdmin, NoEditAdmin):
    list_display = ("received_at", "outcome", "review_reason", "request", "resolved_by",
                    "resolve_link")
    list_filter = ("outcome",)
    # Never the number (from_phone, from_phone_index); the text is shown to settle a review.
    fields = ("provider_sid", "received_at", "body", "outcome", "review_reason", "request",
              "record", "resolved_by", "resolved_at")
    list_select_related = ("request__subject", "resolved_by")
    access_target_type = "consent.inboundsms"
    access_fields = ("sms_reply.body",)

    def access_subjects_of(self, obj) -> list[str]:
        # A reply matched to no request names nobody we know (its number is never shown).
        return [obj.request.subject.public_id] if obj.request_id else []

    @admin.display(description="검토")
    def resolve_link(self, obj: InboundSms):
        if obj.outcome != InboundSms.Outcome.NEEDS_REVIEW:
            return "-"
        return format_html('<a href="{}">검토하기</a>',
                           reverse("admin:consent_inboundsms_resolve", args=[obj.pk]))

    def get_urls(self):
        return [path("<int:pk>/resolve/", self.admin_site.admin_view(self.resolve_view),
                     name="consent_inboundsms_resolve"), *super().get_urls()]

    def resolve_view(self, request: HttpRequest, pk: int):
        if not request.user.has_perm("consent.change_inboundsms"):
            raise PermissionDenied  # before the lookup: a refusal tells no id exists
        inbound = get_object_or_404(InboundSms, pk=pk)
        candidates = (ConsentRequest.objects.select_related("campaign")
                      .filter(subject__phone_index=inbound.from_phone_index)
                      if inbound.from_phone_index else ConsentRequest.objects.none())
        form = ResolveForm(request.POST or None, candidates=candidates)
        if request.method == "POST" and form.is_valid():
            decision = form.cleaned_data["decision"]
            try:
                if decision == "dismiss":
                    reply_services.sms_reply_dismiss(inbound=inbound, officer=request.user)
                else:
                    reply_services.sms_reply_resolve(inbound=inbound, action=decision,
                                                     request=form.cleaned_data["request"],
                                                     officer=request.user)
            except ConsentError as exc:
                form.add_error(None, exc.message)
            else:
                chosen = form.cleaned_data.get("request")
                self._access(request, action=AccessAction.CHANGE,
                             subjects=[chosen.subject.public_id] if chosen else [],
                             target_id=str(inbound.pk),
                             extra={"page": "resolve", "decision": decision})
                self.message_user(request, "회신을 처리했습니다.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:consent_inboundsms_changelist")
                                            + "?outcome__exact=needs_review")
        if request.method == "GET":
            # The reply's text and every request its number matched are on this page.
            self._access(request, action=AccessAction.VIEW,
                         subjects=sorted({c.subject.public_id
                                          for c in candidates.select_related("subject")}
                                         | set(self.access_subjects_of(inbound))),
                         target_id=str(inbound.pk), extra={"page": "resolve"})
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "문자 회신 검토 (review an SMS reply)", "inbound": inbound,
                   "form": form, "candidates": candidates}
        return TemplateResponse(request, "admin/consent/inboundsms/resolve.html", context)


@admin.register(SmsOptOut)
class SmsOptOutAdmin(NoEditAdmin):
    list_display = ("id", "created_at")
