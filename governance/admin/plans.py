"""Transfer plans: their rules, the review page and the two-person approval actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from governance.models import FieldRule, TransferPlan
from governance.policy import EXPLANATIONS, Reason
from governance.selectors import (
    plan_consent_carry,
    plan_decision_summary,
    plan_role_checks,
    plan_roles,
)
from governance.services import (
    GovernanceError,
    plan_activate,
    plan_approve,
    plan_cancel,
    plan_create,
    plan_new_version,
    plan_reject,
    plan_rule_remove,
    plan_rule_set,
    plan_submit,
    plan_update,
)
from governance.services.plans import PLAN_EDITABLE_FIELDS

# --- Transfer plans -------------------------------------------------------------------------


class FieldRuleInline(admin.TabularInline):
    model = FieldRule
    extra = 0
    fields = ("field", "basis", "required", "note")
    autocomplete_fields = ()

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.status in TransferPlan.EDITABLE) and \
            super().has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return (obj is None or obj.status in TransferPlan.EDITABLE) and \
            super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or obj.status in TransferPlan.EDITABLE) and \
            super().has_delete_permission(request, obj)


def plan_review_context(plan: TransferPlan) -> dict:
    return {"plan": plan, "roles": plan_roles(plan), "role_checks": plan_role_checks(plan),
            "consent_carry": plan_consent_carry(plan)}


@admin.register(TransferPlan)
class TransferPlanAdmin(admin.ModelAdmin):
    list_display = ("title", "version", "from_operator", "to_operator", "status", "rehearsal",
                    "submitted_by", "approved_by", "summary_link")
    list_filter = ("status", "rehearsal", "from_operator", "to_operator")
    search_fields = ("title",)
    inlines = [FieldRuleInline]
    actions = ["submit_plans", "approve_plans", "return_plans", "activate_plans",
               "new_version", "cancel_plans"]
    fieldsets = (
        (None, {"fields": ("title", "rehearsal")}),
        ("역할 (roles: PIPA Arts. 17, 26)", {
            "fields": ("controller", "from_operator", "to_operator", "subcontractor")}),
        ("고지 내용 (Art. 17(2) / Art. 27 notice)", {
            "fields": ("purpose", "retention", "recipient_limits", "method")}),
        ("일정", {"fields": ("notice_starts_at", "notice_period_days", "cutover_at")}),
        ("승인 전 검토 (review before approval)", {"fields": ("review",)}),
        ("승인 (two-person rule)", {
            "fields": ("status", "version", "previous", "created_by", "submitted_by",
                       "submitted_at", "approved_by", "approved_at", "summary_link")}),
    )
    readonly_fields = ("review", "status", "version", "previous", "created_by",
                       "submitted_by", "submitted_at", "approved_by", "approved_at",
                       "summary_link")

    @admin.display(description="역할과 동의 유지 (roles; consents kept or void)")
    def review(self, obj: TransferPlan):
        if obj.pk is None:
            return "-"
        return render_to_string("admin/governance/transferplan/review.html",
                                plan_review_context(obj))

    def has_change_permission(self, request, obj=None):
        # A plan past draft is frozen: its page is read-only (changes make a new version).
        if obj is not None and obj.status not in TransferPlan.EDITABLE:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="이전 현황 (summary)")
    def summary_link(self, obj: TransferPlan):
        if obj.pk is None:
            return "-"
        url = reverse("admin:governance_transferplan_summary", args=[obj.pk])
        return format_html('<a href="{}">항목별 현황 보기</a>', url)

    def get_urls(self):
        return [path("<int:pk>/summary/", self.admin_site.admin_view(self.summary_view),
                     name="governance_transferplan_summary"), *super().get_urls()]

    def summary_view(self, request: HttpRequest, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied  # before the lookup: a refusal tells no id exists
        plan = self.get_object(request, str(pk))
        if plan is None:
            self.message_user(request, "계획을 찾을 수 없습니다.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:governance_transferplan_changelist"))
        now = timezone.now()
        rows = plan_decision_summary(plan, now=now)
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "plan": plan,
            "title": f"항목별 이전 현황 — {plan}", "now": now,
            "rows": [{"row": r, "basis": FieldRule.Basis(r.basis).label,
                      "reasons": [(EXPLANATIONS[reason], n) for reason, n in
                                  r.waiting_by_reason()],
                      # A list: a template looking up ``items`` on a Counter gets 0.
                      "withheld": sorted(r.withheld.items())} for r in rows],
            "reasons": [(r.value, EXPLANATIONS[r]) for r in Reason],
            **plan_review_context(plan),
        }
        return TemplateResponse(request, "admin/governance/transferplan/summary.html", context)

    # Saves go through the plan services: audited, and refused once the plan is frozen.
    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data[f] for f in PLAN_EDITABLE_FIELDS if f in form.cleaned_data}
        if change:
            plan_update(plan=obj, by=request.user, **values)
        else:
            obj.pk = plan_create(by=request.user, **values).pk
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        plan = form.instance
        # The admin's change message reads these, as after formset.save().
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            should_delete = formset._should_delete_form(inline_form)
            if not inline_form.has_changed() and not should_delete:
                continue
            instance = inline_form.instance
            if should_delete:
                if instance.pk:
                    plan_rule_remove(rule=instance, by=request.user)
                    formset.deleted_objects.append(instance)
                continue
            data = inline_form.cleaned_data
            rule = plan_rule_set(plan=plan, field=data["field"], basis=data["basis"],
                                 required=data.get("required", False),
                                 note=data.get("note", ""), by=request.user)
            if instance.pk:
                formset.changed_objects.append((rule, inline_form.changed_data))
            else:
                formset.new_objects.append(rule)

    def _each(self, request, queryset, service, done: str):
        for plan in queryset:
            try:
                service(plan=plan, by=request.user)
                messages.success(request, f"'{plan}': {done}")
            except GovernanceError as exc:
                messages.error(request, str(exc))

    @admin.action(description="승인 요청 (submit)", permissions=["change"])
    def submit_plans(self, request, queryset):
        self._each(request, queryset, plan_submit, "승인 요청됨")

    @admin.action(description="승인 (approve — 요청자가 아닌 다른 담당자만)",
                  permissions=["change"])
    def approve_plans(self, request, queryset):
        self._each(request, queryset, plan_approve, "승인됨")

    @admin.action(description="반려 (return to draft)", permissions=["change"])
    def return_plans(self, request, queryset):
        self._each(request, queryset, plan_reject, "작성 중으로 반려됨")

    @admin.action(description="시행 (activate)", permissions=["change"])
    def activate_plans(self, request, queryset):
        self._each(request, queryset, plan_activate, "시행 중")

    @admin.action(description="새 버전 만들기 (new version)", permissions=["add"])
    def new_version(self, request, queryset):
        self._each(request, queryset, plan_new_version, "새 버전(작성 중)이 만들어졌습니다")

    @admin.action(description="취소 (cancel)", permissions=["change"])
    def cancel_plans(self, request, queryset):
        self._each(request, queryset, plan_cancel, "취소됨")
