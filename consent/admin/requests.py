"""Consent requests in the admin: whether the Art. 27 notice reached each one (a list
filter), the notice given by phone (notice evidence), and the export of subjects the notice
could not reach, for the operator's alternative notice (numbers only for an officer with
the change permission who asks, with a reason, audited)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from audit.admin import NoEditAdmin
from consent.models import ConsentRequest
from consent.selectors_notice import (
    notice_pending_q,
    notice_reach_plans,
    notice_unreached_q,
    reached_by,
)
from consent.services import campaigns as campaign_services
from consent.services.errors import ConsentError
from governance.models import NoticeChannel, SubjectNotice, TransferPlan
from governance.services import Evidence, GovernanceError, notice_evidence_record
from officers.access import AccessAction, access_record, client_address
from officers.access_admin import AccessLoggedAdmin


class NoticeReachFilter(admin.SimpleListFilter):
    """Reached, by the channel of the subject's earliest evidence; or, in campaigns that
    carry the notice, still pending or unreached (`consent.selectors_notice`). Each choice
    shows how many requests it selects."""

    title = "고지 도달 여부"
    parameter_name = "notice_reach"

    def _choices(self) -> list[tuple[str, str, Q]]:
        reached = [(f"reached_{value}", f"도달: {label}", Q(reached_by(value)))
                   for value, label in NoticeChannel.choices]
        return [*reached,
                ("pending", "미도달: 발송·재안내 진행 중", notice_pending_q()),
                ("unreached", "미도달: 마지막 재안내까지 도달하지 않음", notice_unreached_q())]

    def lookups(self, request, model_admin):
        choices = self._choices()
        counts = model_admin.get_queryset(request).aggregate(
            **{value: Count("id", filter=q) for value, _label, q in choices})
        return [(value, f"{label} ({counts[value]:,})") for value, label, _q in choices]

    def queryset(self, request, queryset):
        for value, _label, q in self._choices():
            if self.value() == value:
                return queryset.filter(q)
        return queryset


class PhoneNoticeForm(forms.Form):
    called_at = forms.DateTimeField(
        label="통화 일시", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="고지 내용을 전화로 알린 시각 (서울 시각). 이 시각부터 이 분의 고지 기간이 "
                  "시작됩니다.")
    reason = forms.CharField(label="사유 (필수)", widget=forms.Textarea(attrs={"rows": 3}),
                             error_messages={"required": "사유를 입력해 주세요."},
                             help_text="예: 문자 미도달로 콜센터에서 이전받는 자·이전 항목·시기·"
                                       "거부 방법을 안내함 (통화 기록 번호)")

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("사유를 입력해 주세요.")
        return reason


class UnreachedExportForm(forms.Form):
    plan = forms.ModelChoiceField(label="이전 계획", queryset=TransferPlan.objects.none())
    reason = forms.CharField(label="내보내는 사유 (필수)",
                             widget=forms.Textarea(attrs={"rows": 3}),
                             error_messages={"required": "사유를 입력해 주세요."},
                             help_text="예: 운영사의 우편 대체 고지 발송 (공문 번호)")
    with_phone = forms.BooleanField(
        label="전화번호 포함", required=False,
        help_text="대체 고지에 꼭 필요할 때만 선택하세요. 변경 권한이 있는 담당자만 선택할 수 "
                  "있으며, 포함 여부가 감사 기록에 남습니다.")

    def __init__(self, *args, may_include_phone: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = TransferPlan.objects.filter(
            pk__in=[p.pk for p in notice_reach_plans()])
        if not may_include_phone:
            self.fields["with_phone"].disabled = True

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("사유를 입력해 주세요.")
        return reason


UNREACHED_CSV_HEADER = ["external_id", "public_id", "kind", "attempts", "last_error_code"]


def unreached_csv(rows, *, with_phone: bool) -> bytes:
    """UTF-8 with a BOM (opens in Excel as Korean text), one subject per line."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(UNREACHED_CSV_HEADER + (["phone"] if with_phone else []))
    for row in rows:
        line = [row.external_id, row.public_id, row.kind, row.attempts, row.last_error]
        writer.writerow(line + ([row.phone] if with_phone else []))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@admin.register(ConsentRequest)
class ConsentRequestAdmin(AccessLoggedAdmin, NoEditAdmin):
    """Every page view and search is an access entry (officers.access_admin): a request is
    one subject's contact history."""

    list_display = ("public_id", "campaign", "status", "first_sent_at", "delivered_at",
                    "opened_at", "answered_at", "expires_at", "reminders_sent")
    list_filter = ("status", NoticeReachFilter, "campaign")
    search_fields = ("public_id",)
    fields = ("public_id", "campaign", "subject", "status", "notice_state", "created_at",
              "first_sent_at", "delivered_at", "opened_at", "verified_at", "answered_at",
              "expires_at", "reminders_sent", "next_reminder_at", "verify_failures",
              "locked_until", "phone_notice_link")
    readonly_fields = ("notice_state", "phone_notice_link")
    list_select_related = ("campaign", "subject")
    change_list_template = "admin/consent/consentrequest/change_list.html"
    access_target_type = "consent.consentrequest"
    access_fields = ("consent_request.status", "consent_request.timeline", "notice.reached")

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.subject.public_id]

    def access_target_id(self, obj) -> str:
        return str(obj.public_id)

    @admin.display(description="제27조 고지 도달")
    def notice_state(self, obj: ConsentRequest) -> str:
        notice = SubjectNotice.objects.filter(lineage=obj.campaign.plan.lineage,
                                              subject_id=obj.subject_id).first()
        if notice is None:
            return "도달 증거 없음"
        when = timezone.localtime(notice.notified_at).strftime("%Y-%m-%d %H:%M")
        return f"{notice.get_channel_display()} — {when}"

    @admin.display(description="전화 고지")
    def phone_notice_link(self, obj: ConsentRequest):
        if obj.pk is None:
            return "-"
        return format_html('<a href="{}">전화로 고지함 기록</a>',
                           reverse("admin:consent_consentrequest_phone_notice", args=[obj.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("<int:pk>/phone-notice/", view(self.phone_notice_view),
                     name="consent_consentrequest_phone_notice"),
                path("unreached-export/", view(self.unreached_export_view),
                     name="consent_consentrequest_unreached_export"),
                *super().get_urls()]

    # An officer's record that the Art. 27 notice was given by phone: notice evidence.

    def has_phone_notice_permission(self, request) -> bool:
        return request.user.has_perm("governance.add_noticeevidence")

    def phone_notice_view(self, request: HttpRequest, pk: int):
        if not self.has_phone_notice_permission(request):
            raise PermissionDenied  # before the lookup: a refusal tells no id exists
        consent_request = get_object_or_404(
            ConsentRequest.objects.select_related("campaign__plan", "subject"), pk=pk)
        change_url = reverse("admin:consent_consentrequest_change", args=[pk])
        form = PhoneNoticeForm(request.POST or None,
                               initial={"called_at": timezone.localtime().replace(
                                   second=0, microsecond=0)})
        if request.method == "POST" and form.is_valid():
            called_at = form.cleaned_data["called_at"]
            # The same call recorded twice (a double click) is one piece of evidence.
            reference = (f"call:{consent_request.public_id}:"
                         f"{called_at.astimezone(dt.UTC):%Y%m%dT%H%M}")
            try:
                notice_evidence_record(plan=consent_request.campaign.plan, by=request.user,
                                       evidence=[Evidence(
                                           subject=consent_request.subject,
                                           channel=NoticeChannel.PHONE, notified_at=called_at,
                                           reference=reference,
                                           reason=form.cleaned_data["reason"])])
            except GovernanceError as exc:
                form.add_error(None, str(exc))
            else:
                self._access(request, action=AccessAction.INPUT,
                             subjects=[consent_request.subject.public_id],
                             target_id=str(consent_request.public_id),
                             extra={"page": "phone_notice"})
                self.message_user(request, "전화 고지를 기록했습니다.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        if request.method == "GET":
            self._access(request, action=AccessAction.VIEW,
                         subjects=[consent_request.subject.public_id],
                         target_id=str(consent_request.public_id),
                         extra={"page": "phone_notice"})
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "전화로 고지함 (Art. 27 notice given by phone)", "form": form,
                   "consent_request": consent_request}
        return TemplateResponse(request, "admin/consent/consentrequest/phone_notice.html",
                                context)

    # The subjects the notice could not reach, for the operator's alternative notice.

    def may_include_phone(self, request) -> bool:
        return request.user.has_perm("consent.change_consentrequest")

    def unreached_export_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        may_include_phone = self.may_include_phone(request)
        initial = {"plan": request.GET.get("plan")} if request.GET.get("plan") else {}
        form = UnreachedExportForm(request.POST or None, initial=initial,
                                   may_include_phone=may_include_phone)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            with_phone = bool(data["with_phone"]) and may_include_phone
            try:
                rows = campaign_services.notice_unreached_export(
                    plan=data["plan"], by=request.user, reason=data["reason"],
                    with_phone=with_phone)
            except ConsentError as exc:
                form.add_error(None, exc.message)
            else:
                # The access log (officers): who exported whom, from where, and why.
                access_record(by=request.user, address=client_address(request),
                              action="download", reason=data["reason"],
                              subjects=[row.public_id for row in rows],
                              fields=["subject.external_id", "subject.kind"]
                              + (["subject.phone"] if with_phone else []),
                              target_type="governance.transferplan", target_id=data["plan"].pk,
                              extra={"export": "notice_unreached", "with_phone": with_phone})
                name = (f"unreached-plan{data['plan'].pk}-"
                        f"{timezone.localtime():%Y%m%d-%H%M}.csv")
                response = HttpResponse(unreached_csv(rows, with_phone=with_phone),
                                        content_type="text/csv; charset=utf-8")
                response["Content-Disposition"] = f'attachment; filename="{name}"'
                response["Cache-Control"] = "no-store"
                return response
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "고지 미도달 정보주체 내보내기 (for the operator's alternative notice)",
                   "form": form, "may_include_phone": may_include_phone}
        return TemplateResponse(request, "admin/consent/consentrequest/unreached_export.html",
                                context)
