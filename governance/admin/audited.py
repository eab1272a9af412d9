"""What the catalogue's admins share: saves and deletes go through the catalogue services."""

from __future__ import annotations

from django.contrib import admin

from governance.services import catalogue_object_delete, catalogue_object_save


class AuditedAdmin(admin.ModelAdmin):
    """Saves and deletes go through the catalogue services (one audit event each)."""

    def save_model(self, request, obj, form, change):
        catalogue_object_save(obj=obj, by=request.user)

    def delete_model(self, request, obj):
        catalogue_object_delete(obj=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            catalogue_object_delete(obj=obj, by=request.user)
