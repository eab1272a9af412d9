"""Campaigns in the admin: created from the add form, launched, paused, resumed and cancelled
by its actions (each an audited service), failed messages resent; the funnel page."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from consent.models import Campaign, SmsMessage
from consent.services import campaigns as campaign_services
from consent.services.errors import ConsentError
from consent.services.sending import sms_resend_failed
from governance.models import FieldRule, TransferPlan


def item_choices() -> list[tuple[str, str]]:
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
            self.fields["items"].choices = item_choices()
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
        if not self.has_view_permission(request):
            raise PermissionDenied  # before the lookup: a refusal tells no id exists
        campaign = self.get_object(request, str(pk))
        if campaign is None:
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
