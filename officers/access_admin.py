"""A ModelAdmin mixin that writes the access log for pages showing subjects' data.

- a change page opened: one `access.view` entry (a saved change: `access.change`);
- a list page: one entry for the subjects on that page, once per page view (not per row);
  with a search, `access.search` and the kind of term searched (phone, business number,
  text), never the term itself;
- an export: refused until the officer types a reason; then one `access.download` entry
  with the reason and the subjects exported.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import HttpResponse
from django.template.response import TemplateResponse

from officers.access import (
    AccessAction,
    AccessRefused,
    access_reason_clean,
    access_record,
    client_address,
)

_DIGITS = re.compile(r"\D")


def search_kind(term: str) -> str:
    """What sort of term was searched, for the log (the term itself is never kept): a
    phone number (0… or +82…, 9-12 digits), a business number (10 digits), or text."""
    term = term.strip()
    digits = _DIGITS.sub("", term)
    if term.startswith(("0", "+82")) and 9 <= len(digits) <= 12 and len(term) <= 16:
        return "phone"
    if len(digits) == 10 and len(term) <= 12:
        return "brn"
    return "text"


class ExportReasonForm(forms.Form):
    reason = forms.CharField(label="내려받는 사유 (reason for this export)", max_length=400,
                             widget=forms.TextInput(attrs={"size": 60, "autofocus": True}))


class AccessLoggedAdmin(admin.ModelAdmin):
    """Mix in before the ModelAdmin base: ``class X(AccessLoggedAdmin, NoEditAdmin)``.

    ``access_target_type`` names the kind of record in the log (the model's
    ``app_label.modelname`` unless set, as `audit.services.audit_event` names a row's
    target); ``access_fields`` the
    personal fields its pages show; ``access_subjects_of(obj)`` the public ids of the
    subjects one row concerns.
    """

    access_target_type: str | None = None
    access_fields: Sequence[str] = ()

    def access_subjects_of(self, obj) -> list[str]:
        return [obj.public_id]

    def access_target_id(self, obj) -> str:
        return str(obj.pk)

    def access_search_kind(self, term: str) -> str:
        return search_kind(term)

    def _access(self, request, *, action: str, subjects, target_id: str, **kwargs) -> None:
        access_record(by=request.user, address=client_address(request), action=action,
                      subjects=subjects, fields=self.access_fields,
                      target_type=self.access_target_type or self.model._meta.label_lower,
                      target_id=target_id, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        saved = request.method == "POST" and response.status_code == 302
        shown = request.method == "GET" and response.status_code == 200
        if saved or shown:
            obj = (response.context_data.get("original") if shown
                   else self.get_object(request, unquote(object_id)))
            if obj is not None:
                self._access(request, action=AccessAction.CHANGE if saved else AccessAction.VIEW,
                             subjects=self.access_subjects_of(obj),
                             target_id=self.access_target_id(obj))
        return response

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl") if request.method == "GET" else None
        if cl is not None and response.status_code == 200:
            term = cl.query.strip()
            subjects = [s for obj in cl.result_list for s in self.access_subjects_of(obj)]
            extra = {"page": cl.page_num}
            # A search the admin ran from something other than ?q= (a phone number looked up
            # by its blind index) names its kind on the request.
            kind = self.access_search_kind(term) if term else getattr(
                request, "access_search_kind", None)
            if kind:
                extra["search"] = kind
            self._access(request, action=AccessAction.SEARCH if kind else AccessAction.VIEW,
                         subjects=subjects, target_id="changelist", extra=extra)
        return response

    def access_export(self, request, queryset, *, filename: str, header: Sequence[str],
                      row: Callable[[object], Sequence[object]], title: str):
        """An admin action's body: ask for a reason, then log and send the CSV.

        Without a reason (or with one that holds personal data) the export is refused: the
        form comes back with the error, nothing is written and nothing is sent.
        """
        form = ExportReasonForm(request.POST if "reason" in request.POST else None)
        error = ""
        if form.is_bound and form.is_valid():
            objects = list(queryset)
            try:
                reason = access_reason_clean(form.cleaned_data["reason"])
                self._access(request, action=AccessAction.DOWNLOAD,
                             subjects=[s for obj in objects for s in self.access_subjects_of(obj)],
                             target_id=filename, reason=reason, extra={"export": filename})
            except AccessRefused as refused:
                error = refused.args[0]
            else:
                return _csv_response(filename, header, (row(obj) for obj in objects))
        elif form.is_bound:
            error = "내려받는 사유를 적어 주세요. (a reason is required for every export)"
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": title,
            "form": form, "error": error, "count": queryset.count(),
            "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "officers/export_reason.html", context,
                                status=400 if form.is_bound else 200)


def _csv_response(filename: str, header: Sequence[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # Excel opens UTF-8 Korean text only with the BOM
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response
