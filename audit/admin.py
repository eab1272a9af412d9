"""A read-only audit browser. Opening it is itself recorded (audit.viewed)."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEvent, Checkpoint, WitnessCosignature, WitnessState
from audit.services import audit_event


class NoEditAdmin(admin.ModelAdmin):
    """Records nobody adds, changes or deletes in the admin, superusers included: evidence
    (consent records, releases, ...) written only by the services. Every app's admin uses it;
    custom actions that call a service stay possible."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(NoEditAdmin):
    """The audit trail: no action at all (not even bulk delete), every field read-only."""

    actions = None

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


def _record_view(request, *, target_id: str) -> None:
    """An officer opened the log's list ("changelist") or one of its events."""
    audit_event(by=request.user, action="audit.viewed",
                target=(AuditEvent._meta.label_lower, target_id),
                details={"path": request.path[:200]})


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "actor_type", "actor_id", "action", "target_type",
                    "target_id", "request_id", "sealed_at")
    list_filter = ("actor_type", "action", "target_type", "created_at")
    search_fields = ("=actor_id", "=target_id", "=request_id")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False  # counting millions of rows on every page is slow
    list_per_page = 50

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if getattr(response, "status_code", 200) == 200:
            _record_view(request, target_id="changelist")
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if getattr(response, "status_code", 200) == 200:
            _record_view(request, target_id=str(object_id)[:80])
        return response


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("size", "root_hash", "key_id", "created_at")
    list_filter = ("created_at",)
    search_fields = ("=size", "root_hash")
    ordering = ("-size",)


@admin.register(WitnessCosignature)
class WitnessCosignatureAdmin(ReadOnlyAdmin):
    list_display = ("checkpoint", "witness", "key_id", "signed_at", "received_at")
    list_filter = ("witness", "received_at")
    search_fields = ("=checkpoint__size", "=witness")
    list_select_related = ("checkpoint",)
    ordering = ("-checkpoint__size", "witness")


@admin.register(WitnessState)
class WitnessStateAdmin(ReadOnlyAdmin):
    list_display = ("name", "size", "cosigned_at", "attempted_at", "failures", "retry_at",
                    "last_error")
    ordering = ("name",)
