"""The consent screens of the admin, for privacy officers (Korean labels).

Every change goes through a service (guarded transitions, audit event in the same
transaction): campaigns are created, launched, paused, resumed and cancelled from here; the
review queue settles SMS replies; an officer records a consent taken by phone, or that the
Art. 27 notice was given by phone; failed messages are resent. Records, replies and messages
are read-only. No page shows a phone number or a link token (messages show their body with
the token masked); the export of subjects the notice could not reach includes numbers only
when an officer with the change permission asks, with a reason, audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from audit.admin import NoEditAdmin
from consent.models import (
    Campaign,
    ConsentRecord,
    ConsentRequest,
    InboundSms,
    SmsMessage,
    SmsOptOut,
)
from consent.selectors_notice import (
    notice_pending_q,
    notice_reach_plans,
    notice_unreached_q,
    reached_by,
)
from consent.services import campaigns as campaign_services
from consent.services import replies as reply_services
from consent.services.errors import ConsentError
from consent.services.sending import sms_resend_failed
from governance.models import FieldRule, NoticeChannel, SubjectNotice, TransferPlan
from governance.services import Evidence, GovernanceError, notice_evidence_record
from officers.access import AccessAction, access_record, client_address
from officers.access_admin import AccessLoggedAdmin

# --- campaigns ------------------------------------------------------------------------------


def _item_choices() -> list[tuple[str, str]]:
    rows = (FieldRule.objects.filter(basis__in=campaign_services.ASKED_BASES)
            .values_list("field__key", "field__label_ko").distinct().order_by("field__key"))
    return list(dict(rows).items())


class CampaignForm(forms.ModelForm):
    items = forms.MultipleChoiceField(
        label="요청 항목", required=False, widget=forms.CheckboxSelectMultiple,
        help_text="비워 두면 계획의 동의·고지 대상 항목 전체를 묻습니다.")
    external_id_prefix = forms.CharField(label="대상 조건: 보유 사업자 ID 접두어", required=False)
    external_ids = forms.CharField(
        label="업로드 명단: 보유 사업자 ID (한 줄에 하나)", required=False, widget=forms.Textarea)

    class Meta:
        model = Campaign
        fields = ["plan", "name", "subject_kind", "audience", "starts_at", "expires_at",
                  "quiet_from_hour", "quiet_until_hour", "send_rate_per_second",
                  "reminder_count", "reminder_after_hours"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "items" in self.fields:  # the add form (a campaign's change form is read-only)
            self.fields["items"].choices = _item_choices()
        if "plan" in self.fields:
            self.fields["plan"].queryset = TransferPlan.objects.filter(
                status__in=TransferPlan.IN_FORCE)

    def audience_filter(self) -> dict:
        data = self.cleaned_data
        if data.get("audience") == Campaign.Audience.FILTER:
            return {"external_id_prefix": data.get("external_id_prefix", "").strip()}
        if data.get("audience") == Campaign.Audience.LIST:
            return {"external_ids": [x.strip() for x in data.get("external_ids", "").split()
                                     if x.strip()]}
        return {}


CAMPAIGN_FIELDS = ("plan", "name", "subject_kind", "audience", "audience_filter", "items",
                   "starts_at", "expires_at", "quiet_from_hour", "quiet_until_hour",
                   "send_rate_per_second", "reminder_count", "reminder_after_hours", "status",
                   "created_by", "launched_at", "finished_at", "created_at")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "plan", "subject_kind", "status", "send_rate_per_second",
                    "launched_at", "funnel_link")
    list_filter = ("status", "subject_kind")
    search_fields = ("name",)
    actions = ("launch", "pause", "resume", "cancel", "resend_failed")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["plan", "name", "subject_kind", "audience", "external_id_prefix",
                    "external_ids", "items", "starts_at", "expires_at", "quiet_from_hour",
                    "quiet_until_hour", "send_rate_per_second", "reminder_count",
                    "reminder_after_hours"]
        return [*CAMPAIGN_FIELDS, "funnel_link"]

    def get_readonly_fields(self, request, obj=None):
        # Once created, a campaign changes only through its actions (audited services).
        return [*CAMPAIGN_FIELDS, "funnel_link"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        try:
            created = campaign_services.campaign_create(
                plan=data["plan"], name=data["name"], subject_kind=data["subject_kind"],
                expires_at=data["expires_at"], by=request.user, audience=data["audience"],
                audience_filter=form.audience_filter(), items=data.get("items") or None,
                starts_at=data.get("starts_at"), quiet_from_hour=data["quiet_from_hour"],
                quiet_until_hour=data["quiet_until_hour"],
                send_rate_per_second=data["send_rate_per_second"],
                reminder_count=data["reminder_count"],
                reminder_after_hours=data["reminder_after_hours"])
        except ConsentError as exc:
            raise _AdminRefusal(exc.message) from exc
        obj.pk = created.pk
        obj.refresh_from_db()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _AdminRefusal as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @admin.display(description="진행 현황 (funnel)")
    def funnel_link(self, obj: Campaign):
        if obj.pk is None:
            return "-"
        return format_html('<a href="{}">진행 현황 보기</a>',
                           reverse("admin:consent_campaign_funnel", args=[obj.pk]))

    def _each(self, request, queryset, service, done: str) -> None:
        ok = 0
        for campaign in queryset:
            try:
                service(campaign=campaign, by=request.user)
                ok += 1
            except ConsentError as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)
        if ok:
            self.message_user(request, f"{ok}개 캠페인을 {done}.", messages.SUCCESS)

    @admin.action(description="선택한 캠페인 시작 (launch)")
    def launch(self, request, queryset):
        self._each(request, queryset, campaign_services.campaign_launch, "시작했습니다")

    @admin.action(description="선택한 캠페인 일시 중지 (pause)")
    def pause(self, request, queryset):
        self._each(request, queryset, campaign_services.campaign_pause, "일시 중지했습니다")

    @admin.action(description="선택한 캠페인 재개 (resume)")
    def resume(self, request, queryset):
        self._each(request, queryset, campaign_services.campaign_resume, "재개했습니다")

    @admin.action(description="선택한 캠페인 취소 (cancel)")
    def cancel(self, request, queryset):
        self._each(request, queryset, campaign_services.campaign_cancel, "취소했습니다")

    @admin.action(description="발송 실패한 문자 재발송 (resend failed)")
    def resend_failed(self, request, queryset):
        for campaign in queryset:
            n = sms_resend_failed(campaign=campaign, by=request.user)
            self.message_user(request, f"{campaign}: 실패한 문자 {n}건을 다시 발송 대기열에 "
                                       "넣었습니다.", messages.SUCCESS)

    def get_urls(self):
        return [path("<int:pk>/funnel/", self.admin_site.admin_view(self.funnel_view),
                     name="consent_campaign_funnel"), *super().get_urls()]

    def funnel_view(self, request: HttpRequest, pk: int):
        campaign = self.get_object(request, str(pk))
        if campaign is None or not self.has_view_permission(request, campaign):
            self.message_user(request, "캠페인을 찾을 수 없습니다.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:consent_campaign_changelist"))
        funnel = campaign_services.campaign_funnel(campaign=campaign)
        created = funnel["created"] or 1
        rows = [{"step": step, "label": campaign_services.FUNNEL_LABELS[step], "count": n,
                 "percent": round(100 * n / created, 1)} for step, n in funnel.items()]
        sms = dict(SmsMessage.objects.filter(request__campaign=campaign)
                   .values_list("status").annotate(n=Count("id")))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "campaign": campaign, "title": f"캠페인 진행 현황 — {campaign}", "rows": rows,
            "chart": {"labels": [r["label"] for r in rows], "counts": [r["count"] for r in rows]},
            "sms_rows": [(SmsMessage.Status(s).label, n) for s, n in sorted(sms.items())],
        }
        return TemplateResponse(request, "admin/consent/campaign/funnel.html", context)


class _AdminRefusal(Exception):
    pass


# --- consent requests: whether the Art. 27 notice reached them ---------------------------


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
    access_target_type = "consent_request"
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
        consent_request = get_object_or_404(
            ConsentRequest.objects.select_related("campaign__plan", "subject"), pk=pk)
        change_url = reverse("admin:consent_consentrequest_change", args=[pk])
        if not self.has_phone_notice_permission(request):
            self.message_user(request, "전화 고지를 기록할 권한이 없습니다.", messages.ERROR)
            return HttpResponseRedirect(change_url)
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
            self.message_user(request, "내보낼 권한이 없습니다.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:index"))
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
                              target_type="transfer_plan", target_id=data["plan"].pk,
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
    access_target_type = "sms_message"
    access_fields = ("sms.body_redacted", "sms.status")

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.request.subject.public_id]

    @admin.display(description="동의 요청")
    def request_ref(self, obj: SmsMessage) -> str:
        return str(obj.request.public_id)


# --- consent records and the phone form ----------------------------------------------------


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
        choices = [(k, f"{label} ({k})") for k, label in _item_choices()]
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
    access_target_type = "consent_record"
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
            self.message_user(request, "전화 동의를 기록할 권한이 없습니다.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:consent_consentrecord_changelist"))
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


# --- the review queue for SMS replies -------------------------------------------------------


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
    access_target_type = "inbound_sms"
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
        inbound = get_object_or_404(InboundSms, pk=pk)
        if not request.user.has_perm("consent.change_inboundsms"):
            self.message_user(request, "검토할 권한이 없습니다.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:consent_inboundsms_changelist"))
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

