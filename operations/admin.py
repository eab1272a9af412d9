from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit.admin import NoEditAdmin
from operations.models import RehearsalRun


@admin.register(RehearsalRun)
class RehearsalRunAdmin(NoEditAdmin):
    """Runs of `manage.py rehearse`: read-only, each with its report."""

    list_display = ("__str__", "started_at", "finished_at", "status", "report_link")
    list_filter = ("status",)
    readonly_fields = ("started_at", "finished_at", "status", "parameters", "report_path",
                       "report_link")
    exclude = ("summary",)

    @admin.display(description="보고서")
    def report_link(self, obj: RehearsalRun):
        url = reverse("admin:operations_rehearsalrun_report", args=[obj.pk])
        return format_html('<a href="{}">보고서 보기</a>', url)

    def get_urls(self):
        return [path("<int:pk>/report/", self.admin_site.admin_view(self.report_view),
                     name="operations_rehearsalrun_report"), *super().get_urls()]

    def report_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied  # before the lookup: a refusal tells no id exists
        run = RehearsalRun.objects.filter(pk=pk).first()
        if run is None:
            raise Http404("no such rehearsal")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "run": run, "s": run.summary, "title": f"이전 리허설 보고서 #{run.pk}"}
        return TemplateResponse(request, "operations/report_admin.html", context)
