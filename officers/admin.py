"""The monthly review page: 담당자 접근 관리 → 접근 기록 월간 점검."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from officers.models import AccessReview
from officers.review import (
    RULE,
    SEOUL,
    ReviewError,
    access_review,
    access_review_sign,
    month_bounds,
    parse_month,
    review_csv,
)


def _previous_month(now: dt.datetime) -> dt.date:
    local = now.astimezone(SEOUL)
    first = dt.date(local.year, local.month, 1)
    return (first - dt.timedelta(days=1)).replace(day=1)


@admin.register(AccessReview)
class AccessReviewAdmin(admin.ModelAdmin):
    """Who touched whose data this month, and the privacy officer's sign-off. The list page
    is the review itself (?month=YYYY-MM, the previous month by default)."""

    def has_add_permission(self, request) -> bool:
        return False  # signing is the review page's form, never a blank add form

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def can_sign(self, request) -> bool:
        return request.user.has_perm("officers.add_accessreview")

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            month = parse_month(request.GET["month"]) if request.GET.get("month") else \
                _previous_month(timezone.now())
        except ReviewError as error:
            messages.error(request, str(error))
            month = _previous_month(timezone.now())
        if request.method == "POST":
            return self._sign(request, month)
        review = access_review(month)
        if request.GET.get("format") == "csv":
            response = HttpResponse(review_csv(review), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="access-review-{month:%Y-%m}.csv"')
            return response
        start, end = month_bounds(month)
        finished = end <= timezone.now()
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": f"접근 기록 월간 점검 — {month:%Y-%m}", "review": review, "rule": RULE,
            "month": month, "month_text": f"{month:%Y-%m}",
            "finished": finished, "signable_from": end.date(),
            "may_sign": self.can_sign(request),
            "can_sign": self.can_sign(request) and review.signed is None and finished,
            # The entries behind each row, in the audit log (exact account, this month).
            "entries_query": urlencode({"created_at__gte": str(start),
                                        "created_at__lt": str(end)}),
            "history": AccessReview.objects.select_related("signed_by")[:24],
        }
        return TemplateResponse(request, "officers/access_review.html", context)

    def _sign(self, request, month: dt.date):
        here = reverse("admin:officers_accessreview_changelist") + "?" + urlencode(
            {"month": f"{month:%Y-%m}"})
        if not self.can_sign(request):
            messages.error(request, "점검 완료를 기록할 권한이 없습니다.")
            return HttpResponseRedirect(here)
        try:
            access_review_sign(month=month, by=request.user, note=request.POST.get("note", ""))
        except ReviewError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"{month:%Y-%m} 접근 기록 점검을 완료로 기록했습니다.")
        return HttpResponseRedirect(here)
