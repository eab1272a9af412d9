"""Subjects and their consent state, read-only: every view, search and export is logged."""

from __future__ import annotations

import re

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from audit.admin import NoEditAdmin
from governance.models import DataSubject, SubjectConsentState
from officers.access_admin import AccessLoggedAdmin, search_kind

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
    access_fields = ("consent.fields_granted", "consent.fields_declined", "consent.objected",
                     "consent.answered_at", "consent.withdrawn_at")

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.subject.public_id]
