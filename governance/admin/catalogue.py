"""The field catalogue, who controls each field, disputes and rulings."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from governance.admin.audited import AuditedAdmin
from governance.models import Field, FieldOwnership, OwnershipDispute, Ruling
from governance.services import (
    GovernanceError,
    dispute_open,
    dispute_refer,
    ownership_set,
    ruling_record,
)

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
