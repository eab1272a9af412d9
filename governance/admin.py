"""The privacy officers' admin: every change goes through a service, so it is audited and the
rules (two-person approval, frozen plans, settled disputes) hold here exactly as in code."""

from __future__ import annotations

import base64
import binascii
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from audit.admin import NoEditAdmin
from governance.models import (
    DataSubject,
    EntrustmentRecord,
    Field,
    FieldOwnership,
    FieldRule,
    Operator,
    OperatorKey,
    OwnershipDispute,
    ProvisionRecord,
    Ruling,
    SubjectConsentState,
    TransferPlan,
)
from governance.policy import EXPLANATIONS, Reason
from governance.selectors import (
    plan_consent_carry,
    plan_decision_summary,
    plan_role_checks,
    plan_roles,
)
from governance.services import (
    GovernanceError,
    catalogue_object_delete,
    catalogue_object_save,
    dispute_open,
    dispute_refer,
    operator_key_register,
    ownership_set,
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
    ruling_record,
)
from governance.services.export import entrustment_export, register_export
from governance.services.plans import PLAN_EDITABLE_FIELDS
from officers.access_admin import AccessLoggedAdmin, search_kind


class AuditedAdmin(admin.ModelAdmin):
    """Saves and deletes go through the catalogue services (one audit event each)."""

    def save_model(self, request, obj, form, change):
        catalogue_object_save(obj=obj, by=request.user)

    def delete_model(self, request, obj):
        catalogue_object_delete(obj=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            catalogue_object_delete(obj=obj, by=request.user)


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


# --- Catalogue, ownership, disputes, rulings --------------------------------------------


class OwnershipInline(admin.TabularInline):
    model = FieldOwnership
    extra = 0
    can_delete = False
    fields = ("operator", "role", "since", "until", "ground", "ruling")
    readonly_fields = fields
    verbose_name_plural = "관리 주체 이력"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Field)
class FieldAdmin(AuditedAdmin):
    list_display = ("key", "label_ko", "label_en", "subject_kind", "category", "personal",
                    "sensitivity", "fides_category", "is_disputed")
    list_filter = ("subject_kind", "category", "personal", "sensitivity")
    search_fields = ("key", "label_ko", "label_en", "fides_category")
    inlines = [OwnershipInline]
    actions = ["open_dispute"]

    def get_queryset(self, request):
        unsettled = OwnershipDispute.objects.filter(fields=OuterRef("pk"),
                                                    status__in=OwnershipDispute.UNSETTLED)
        return super().get_queryset(request).annotate(disputed_now=Exists(unsettled))

    def has_add_dispute_permission(self, request) -> bool:
        return request.user.has_perm("governance.add_ownershipdispute")

    @admin.display(description="분쟁 중", boolean=True)
    def is_disputed(self, obj: Field) -> bool:
        return obj.disputed_now

    @admin.action(description="선택한 항목에 대해 관리 주체 분쟁 제기 (open dispute)",
                  permissions=["add_dispute"])
    def open_dispute(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        url = reverse("admin:governance_ownershipdispute_add") + "?" + urlencode({"fields": ids})
        return HttpResponseRedirect(url)


@admin.register(FieldOwnership)
class FieldOwnershipAdmin(admin.ModelAdmin):
    list_display = ("field", "operator", "role", "since", "until", "ruling")
    list_filter = ("role", "operator", "field__subject_kind")
    fields = ("field", "operator", "role", "ground", "evidence", "since")
    readonly_fields = ("until", "ruling")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        row = ownership_set(field=obj.field, operator=obj.operator, role=obj.role,
                            ground=obj.ground, evidence=obj.evidence, since=obj.since,
                            by=request.user)
        obj.pk = row.pk


@admin.register(OwnershipDispute)
class OwnershipDisputeAdmin(admin.ModelAdmin):
    list_display = ("title", "claimant", "counter_claimant", "opened_on", "referred_on",
                    "status")
    list_filter = ("status", "claimant", "counter_claimant")
    filter_horizontal = ("fields",)
    actions = ["refer_to_commission", "record_ruling"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("status",)
        return ("title", "fields", "claimant", "counter_claimant", "claimant_ground",
                "counter_ground", "opened_on", "referred_on", "status")

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if "fields" in request.GET:
            initial["fields"] = [pk for pk in request.GET["fields"].split(",") if pk.isdigit()]
        initial.setdefault("opened_on", timezone.localdate())
        return initial

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return  # read-only once opened: refer, withdraw and rule through the actions
        data = form.cleaned_data
        dispute = dispute_open(
            title=data["title"], fields=data["fields"], claimant=data["claimant"],
            counter_claimant=data["counter_claimant"], claimant_ground=data["claimant_ground"],
            counter_ground=data.get("counter_ground", ""), opened_on=data["opened_on"],
            referred_on=data.get("referred_on"), by=request.user)
        obj.pk = dispute.pk

    def save_related(self, request, form, formsets, change):
        pass  # dispute_open has set the fields

    def has_add_ruling_permission(self, request) -> bool:
        return request.user.has_perm("governance.add_ruling")

    @admin.action(description="개인정보보호위원회에 회부 (refer to the commission)",
                  permissions=["add"])
    def refer_to_commission(self, request, queryset):
        for dispute in queryset:
            try:
                dispute_refer(dispute=dispute, by=request.user)
                messages.success(request, f"'{dispute}' 회부됨")
            except GovernanceError as exc:
                messages.error(request, str(exc))

    @admin.action(description="결정 기록 (record ruling)", permissions=["add_ruling"])
    def record_ruling(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, "결정은 분쟁 하나씩 기록합니다. (choose exactly one dispute)")
            return None
        url = reverse("admin:governance_ruling_add") + "?" + urlencode(
            {"dispute": queryset.get().pk})
        return HttpResponseRedirect(url)


@admin.register(Ruling)
class RulingAdmin(admin.ModelAdmin):
    list_display = ("dispute", "authority", "decided_on", "reference", "controller",
                    "processor")
    list_filter = ("authority", "controller")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("dispute", "authority", "decided_on", "reference", "controller", "processor",
                "outcome", "effect", "created_at")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "dispute":
            kwargs["queryset"] = OwnershipDispute.objects.filter(
                status__in=OwnershipDispute.UNSETTLED)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return  # a ruling is a fact: recorded once, never edited
        data = form.cleaned_data
        ruling = ruling_record(
            dispute=data["dispute"], authority=data["authority"],
            decided_on=data["decided_on"], reference=data.get("reference", ""),
            controller=data["controller"], processor=data.get("processor"),
            outcome=data["outcome"], effect=data.get("effect", ""), by=request.user)
        obj.pk = ruling.pk


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
        plan = self.get_object(request, str(pk))
        if plan is None or not self.has_view_permission(request, plan):
            self.message_user(request, "계획을 찾을 수 없습니다.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:governance_transferplan_changelist"))
        now = timezone.now()
        rows = plan_decision_summary(plan, now=now)
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "plan": plan,
            "title": f"항목별 이전 현황 — {plan}", "now": now,
            "rows": [{"row": r, "basis": FieldRule.Basis(r.basis).label,
                      "reasons": [(EXPLANATIONS[reason], n) for reason, n in
                                  r.waiting_by_reason()]} for r in rows],
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


# --- Subjects, consent state, the register (read-only here) -------------------------------


@admin.register(DataSubject)
class DataSubjectAdmin(AccessLoggedAdmin, NoEditAdmin):
    """Every page view, search and export is an access entry (officers.access_admin)."""

    list_display = ("public_id", "kind", "external_id", "source_operator", "updated_at")
    list_filter = ("kind", "source_operator")
    search_fields = ("external_id", "public_id")
    fields = ("public_id", "kind", "external_id", "source_operator", "created_at", "updated_at")
    show_full_result_count = False
    actions = ["export_csv"]
    access_target_type = "data_subject"
    access_fields = ("subject.kind", "subject.external_id", "subject.source_operator")

    def access_target_id(self, obj) -> str:
        return obj.public_id

    def access_search_kind(self, term: str) -> str:
        from governance.crypto import InvalidPhone, normalize_mobile

        try:
            normalize_mobile(term)
        except InvalidPhone:
            return search_kind(term)
        return "phone"

    # A phone number never stays in an address (server and proxy logs, browser history,
    # bookmarks): the page's own form posts it, and the list is shown at ?pi=<its blind
    # index>; a number typed into the ordinary search box is turned into that address too.
    change_list_template = "admin/governance/datasubject/change_list.html"
    PHONE_INDEX_PARAM = "pi"

    def changelist_view(self, request, extra_context=None):
        moved = self._phone_search_redirect(request)
        if moved is not None:
            return moved
        index = request.GET.get(self.PHONE_INDEX_PARAM)
        if index is not None:
            request.GET = request.GET.copy()
            del request.GET[self.PHONE_INDEX_PARAM]
            request.phone_index = index if re.fullmatch(r"[0-9a-f]{64}", index) else "-"
            request.access_search_kind = "phone"
        return super().changelist_view(request, {"phone_search": index is not None,
                                                 **(extra_context or {})})

    def _phone_search_redirect(self, request):
        """The address of the list of subjects with a phone number, from the page's form
        (POST ``phone_lookup``) or from ``?q=`` when it holds one; None otherwise."""
        from governance.crypto import InvalidPhone, blind_index, normalize_mobile

        typed = (request.POST.get("phone_lookup") if request.method == "POST"
                 else request.GET.get("q"))
        if typed is None:
            return None
        try:
            index = blind_index("phone:" + normalize_mobile(typed))
        except InvalidPhone:
            if request.method != "POST":
                return None  # an ordinary search term
            messages.error(request, "휴대전화 번호 형식이 아닙니다. (not a mobile number)")
            return HttpResponseRedirect(request.path)
        return HttpResponseRedirect(f"{request.path}?{self.PHONE_INDEX_PARAM}={index}")

    def get_queryset(self, request):
        subjects = super().get_queryset(request).defer("phone")
        index = getattr(request, "phone_index", None)
        return subjects if index is None else subjects.filter(phone_index=index)

    @admin.action(description="선택한 정보주체 CSV 내려받기 (사유 필요; export, reason required)",
                  permissions=["view"])
    def export_csv(self, request, queryset):
        return self.access_export(
            request, queryset.select_related("source_operator"), filename="data-subjects.csv",
            title="정보주체 목록 내려받기", header=["public_id", "kind", "external_id", "operator"],
            row=lambda s: [s.public_id, s.kind, s.external_id, s.source_operator.code])


@admin.register(SubjectConsentState)
class SubjectConsentStateAdmin(AccessLoggedAdmin, NoEditAdmin):
    list_display = ("subject", "plan", "objected", "answered_at", "withdrawn_at", "expires_at")
    list_filter = ("plan", "objected")
    list_select_related = ("subject", "plan")
    access_target_type = "subject_consent_state"
    access_fields = ("consent.fields_granted", "consent.fields_declined", "consent.objected",
                     "consent.answered_at", "consent.withdrawn_at")

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.subject.public_id]


class RegisterAdmin(NoEditAdmin):
    """A register's rows, and its CSV export (an audit event, as the command's)."""

    change_list_template = "admin/governance/register_change_list.html"
    export_label = ""
    export_file = ""
    exporter = None

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        return [path("export.csv", self.admin_site.admin_view(self.export_view), name=name),
                *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_export")
        return super().changelist_view(request, {
            **(extra_context or {}), "export_url": url, "export_label": self.export_label})

    def export_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.export_file}"'
        response.write("\ufeff")  # spreadsheet programs then read the Korean headers
        self.exporter(out=response, by=request.user)
        return response


@admin.register(ProvisionRecord)
class ProvisionRecordAdmin(RegisterAdmin):
    """Provisions to third parties (Art. 17): the Decree Art. 15 register."""

    list_display = ("provided_from", "file_name", "recipient", "subject_count", "plan",
                    "reference")
    list_filter = ("recipient", "plan")
    date_hierarchy = "provided_from"
    export_label = "제3자 제공 대장 CSV (Decree Art. 15)"
    export_file = "provision-register.csv"
    exporter = staticmethod(register_export)


@admin.register(EntrustmentRecord)
class EntrustmentRecordAdmin(RegisterAdmin):
    """Entrustment changes (Art. 26): a controller's data between its processors."""

    list_display = ("started_at", "file_name", "controller", "from_processor", "to_processor",
                    "subject_count", "plan", "reference")
    list_filter = ("controller", "to_processor", "plan")
    date_hierarchy = "started_at"
    export_label = "위탁 변경 기록 CSV (PIPA Art. 26)"
    export_file = "entrustment-changes.csv"
    exporter = staticmethod(entrustment_export)
