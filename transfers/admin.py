"""The officers' view of transfers: uploads with their rejection reports, releases, signed
acknowledgements, the reconciliation of all four sets of figures (mismatches highlighted)
and deletion requests the recipient has not confirmed. Everything here is read-only: changes
come from the operator API through the services (audited); the one action, re-queueing a
stuck export, goes through a service too."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from audit.admin import NoEditAdmin
from audit.services import officer_actor
from governance.models import TransferPlan
from officers.access_admin import AccessLoggedAdmin
from transfers.models import (
    Acknowledgement,
    Correction,
    DeletionNotice,
    OperatorClient,
    Release,
    Upload,
    UploadBatch,
)
from transfers.selectors import plan_reconciliation, upload_totals
from transfers.services import operator_client_revoke, release_retry


def _reconciliation_link(plan_id: int) -> str:
    url = reverse("admin:transfers_release_reconciliation", args=[plan_id])
    return format_html('<a href="{}">대사 보고서 (reconciliation)</a>', url)


def _table(headers, rows) -> str:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join("", "<tr>{}</tr>", (
        (format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows))
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head,
                       body)


@admin.register(OperatorClient)
class OperatorClientAdmin(NoEditAdmin):
    list_display = ("operator", "client_id", "active", "webhook_url", "created_at")
    list_filter = ("active", "operator")
    fields = ("operator", "client_id", "active", "webhook_url", "created_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="client id")
    def client_id(self, obj):
        return obj.application.client_id

    @admin.action(description="선택한 클라이언트 폐기 (revoke: tokens stop working)")
    def revoke(self, request, queryset):
        for client in queryset.filter(active=True):
            operator_client_revoke(client=client, by=officer_actor(request.user))
        self.message_user(request, "폐기했습니다.", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("transfers.change_operatorclient")


class BatchInline(admin.TabularInline):
    model = UploadBatch
    fields = ("batch_id", "line_count", "accepted_count", "rejected_count", "balance_sum",
              "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Upload)
class UploadAdmin(NoEditAdmin):
    list_display = ("public_id", "plan", "status", "accepted_count", "rejected_count",
                    "totals", "created_at")
    list_filter = ("status",)
    fields = ("public_id", "plan", "operator", "status", "accepted_count", "rejected_count",
              "totals_report", "reconciliation", "created_at", "completed_at")
    readonly_fields = fields
    inlines = [BatchInline]

    @admin.display(description="신고 합계 대조 (declared vs accepted)")
    def totals(self, obj: Upload):
        result = upload_totals(obj)
        if not result["declared"]:
            return "신고 없음"
        if result["matches"]:
            return "일치"
        return format_html('<strong style="color:#a40000">불일치 {}건</strong>',
                           len(result["mismatches"]))

    @admin.display(description="신고 / 수락 합계")
    def totals_report(self, obj: Upload):
        result = upload_totals(obj)
        rows = [(m["metric"], m["declared"], m["accepted"]) for m in result["mismatches"]]
        accepted = result["accepted"]
        summary = format_html(
            "수락: 가맹점 {} / 이용자 {} / 잔액 합계 {}원; 거부 행 {}",
            accepted["subjects"].get("merchant", 0), accepted["subjects"].get("user", 0),
            accepted["certificate_balance_sum"], accepted["rejected_rows"])
        if not rows:
            return summary
        return format_html("{}<br><strong style='color:#a40000'>불일치</strong>{}", summary,
                           _table(["항목", "신고", "수락"], rows))

    @admin.display(description="대사")
    def reconciliation(self, obj: Upload):
        return _reconciliation_link(obj.plan_id)


@admin.register(UploadBatch)
class UploadBatchAdmin(NoEditAdmin):
    list_display = ("batch_id", "upload", "line_count", "accepted_count", "rejected_count",
                    "created_at")
    fields = ("upload", "batch_id", "content_sha256", "line_count", "accepted_count",
              "rejected_count", "kind_counts", "balance_sum", "rejection_report", "created_at")
    readonly_fields = fields

    @admin.display(description="거부 내역 (rejected rows; values are never stored)")
    def rejection_report(self, obj: UploadBatch):
        if not obj.rejections:
            return "없음"
        return _table(["행 (line)", "항목 (field)", "코드", "설명"],
                      [(r["line"], r["field"], r["code"], r["message"])
                       for r in obj.rejections[:1000]])


@admin.register(Release)
class ReleaseAdmin(NoEditAdmin):
    list_display = ("__str__", "status", "stamp", "record_count", "chunk_count",
                    "acknowledged", "completed_at")
    list_filter = ("status", "rehearsal")
    fields = ("public_id", "plan", "number", "stamp", "status", "as_of", "recipient",
              "recipient_key", "record_count", "chunk_count", "manifest_sha256", "counts",
              "would_fail", "error", "attempts", "requested_by", "created_at", "completed_at",
              "reconciliation")
    readonly_fields = fields
    actions = ["retry"]

    @admin.display(description="구분")
    def stamp(self, obj: Release):
        return "REHEARSAL (리허설)" if obj.rehearsal else "실제 이전"

    @admin.display(description="수령 확인")
    def acknowledged(self, obj: Release):
        ack = obj.acknowledgements.order_by("-received_at", "-id").first()
        if ack is None:
            return "-" if obj.status != Release.Status.READY else "대기"
        if ack.matches:
            return "일치"
        return format_html('<strong style="color:#a40000">불일치 {}건</strong>',
                           len(ack.mismatches))

    def _manifest(self, obj: Release) -> dict:
        return json.loads(bytes(obj.manifest)) if obj.manifest else {}

    @admin.display(description="항목별 제공 / 거부 사유")
    def counts(self, obj: Release):
        counts = self._manifest(obj).get("counts")
        if not counts:
            return "-"
        denied = counts.get("denied_by_field", {})
        keys = sorted(set(counts["fields"]) | set(denied))
        return _table(["항목", "제공", "거부 (사유: 건수)"], [
            (k, counts["fields"].get(k, 0),
             ", ".join(f"{r}: {n}" for r, n in denied.get(k, {}).items()) or "-")
            for k in keys])

    @admin.display(description="실패했을 항목 (rehearsal: what would have failed)")
    def would_fail(self, obj: Release):
        if not obj.rehearsal:
            return "-"
        manifest = self._manifest(obj)
        rejected = sum(UploadBatch.objects.filter(upload__plan=obj.plan)
                       .values_list("rejected_count", flat=True))
        problems = [r for r in plan_reconciliation(obj.plan) if not r.ok]
        return format_html(
            "업로드 거부 행 {}건; 정책상 제외된 값 {}건; 대사 불일치 {}건", rejected,
            sum(manifest.get("counts", {}).get("denied", {}).values()), len(problems))

    @admin.display(description="대사")
    def reconciliation(self, obj: Release):
        return _reconciliation_link(obj.plan_id)

    @admin.action(description="내보내기 다시 실행 (re-queue the export)")
    def retry(self, request, queryset):
        for release in queryset.exclude(status=Release.Status.READY):
            release_retry(release=release, by=officer_actor(request.user))
        self.message_user(request, "다시 요청했습니다.", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("transfers.change_release")

    def get_urls(self):
        return [path("reconciliation/<int:plan_id>/",
                     self.admin_site.admin_view(self.reconciliation_view),
                     name="transfers_release_reconciliation"), *super().get_urls()]

    def reconciliation_view(self, request: HttpRequest, plan_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        plan = get_object_or_404(TransferPlan, pk=plan_id)
        rows = plan_reconciliation(plan)
        rejections = [(b.batch_id, r) for b in UploadBatch.objects.filter(upload__plan=plan)
                      for r in b.rejections][:200]
        unacknowledged = Release.objects.filter(plan=plan, status=Release.Status.READY,
                                                acknowledgements__isnull=True).count()
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "plan": plan, "title": f"대사 보고서 — {plan}", "rows": rows,
                   "mismatches": sum(1 for r in rows if not r.ok),
                   "unacknowledged": unacknowledged, "rejections": rejections}
        return TemplateResponse(request, "admin/transfers/release/reconciliation.html", context)


@admin.register(Acknowledgement)
class AcknowledgementAdmin(NoEditAdmin):
    list_display = ("release", "result", "key", "received_at")
    list_filter = ("matches",)
    fields = ("release", "key", "nonce", "result", "totals", "mismatch_table", "received_at")
    readonly_fields = fields

    @admin.display(description="결과")
    def result(self, obj: Acknowledgement):
        if obj.matches:
            return "일치 (matches)"
        return format_html('<strong style="color:#a40000">불일치 (mismatch) {}건</strong>',
                           len(obj.mismatches))

    @admin.display(description="불일치 항목")
    def mismatch_table(self, obj: Acknowledgement):
        if not obj.mismatches:
            return "-"
        return _table(["항목", "제공", "수령 확인"],
                      [(m["metric"], m["released"], m["acknowledged"]) for m in obj.mismatches])


class UnconfirmedFilter(admin.SimpleListFilter):
    title = "삭제 확인"
    parameter_name = "confirmed"

    def lookups(self, request, model_admin):
        return [("no", "미확인 (unconfirmed)"), ("yes", "확인됨")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(confirmed_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(confirmed_at__isnull=False)
        return queryset


@admin.register(DeletionNotice)
class DeletionNoticeAdmin(AccessLoggedAdmin, NoEditAdmin):
    # What an officer acts on first (is it confirmed, since when, why, what) before whose.
    list_display = ("pk", "confirmation", "reason", "subject_public_id", "field_list",
                    "created_at", "recipient", "plan")
    list_filter = (UnconfirmedFilter, "reason", "recipient")
    fields = ("plan", "recipient", "subject_public_id", "reason", "fields", "state_updated_at",
              "created_at", "webhook_sent_at", "confirmed_at")
    readonly_fields = fields
    # Whose released data must be deleted, and which fields: an access entry per page view.
    access_target_type = "transfers.deletionnotice"
    access_fields = ("deletion.fields", "deletion.reason")

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.subject.public_id]

    @admin.display(description="정보주체 (가명 ID)")
    def subject_public_id(self, obj: DeletionNotice):
        return obj.subject.public_id

    @admin.display(description="삭제할 항목")
    def field_list(self, obj: DeletionNotice):
        return ", ".join(obj.fields)

    @admin.display(description="삭제 확인", ordering="confirmed_at")
    def confirmation(self, obj: DeletionNotice):
        if obj.confirmed_at:
            return obj.confirmed_at
        waiting = timezone.now() - obj.created_at
        age = (f"{waiting.days}일 경과" if waiting.days else
               f"{waiting.seconds // 3600}시간 경과" if waiting.seconds >= 3600 else "1시간 미만")
        return format_html('<strong style="color:#a40000">{}</strong> ({})',
                           "미확인 (unconfirmed)", age)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("subject", "plan", "recipient")


@admin.register(Correction)
class CorrectionAdmin(AccessLoggedAdmin, NoEditAdmin):
    """Records recipients could not apply, and how far each is on its way back corrected."""

    list_display = ("pk", "status", "reason", "subject_public_id", "plan", "release",
                    "created_at", "corrected_at", "carried_by")
    list_filter = ("status", "reason")
    # The recipient's free text may name a value: only on the change page (access-logged).
    fields = ("plan", "release", "report", "subject_public_id", "reason", "text", "status",
              "created_at", "corrected_at", "corrected_batch", "carried_by")
    readonly_fields = fields
    access_target_type = "transfers.correction"
    access_fields = ("correction.reason", "correction.text")

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.subject.public_id]

    @admin.display(description="정보주체 (가명 ID)")
    def subject_public_id(self, obj: Correction):
        return obj.subject.public_id

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("subject", "plan", "release",
                                                            "carried_by")
