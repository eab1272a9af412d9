"""The registers (provisions, entrustment changes), read-only, with their CSV exports."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse

from audit.admin import NoEditAdmin
from governance.models import EntrustmentRecord, ProvisionRecord
from governance.services.export import entrustment_export, register_export


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
