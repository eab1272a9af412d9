"""The officers' dashboard: every plan, campaign, release and open review on one page.

Aggregates only (counts, statuses): no subject appears on it, so viewing it is not audited,
unlike the audit browser.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from audit.selectors import witness_overview
from governance.models import NoticeChannel
from operations import selectors

# Both roles hold it (config/roles.py); a staff account in neither group sees nothing here.
DASHBOARD_PERMISSION = "governance.view_transferplan"


def dashboard(request: HttpRequest):
    """Admin page for officers and the commission's reviewers (wrapped in admin_view): it
    names every plan and its parties, so deny by default to any other staff account."""
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied("이 화면을 볼 권한이 없습니다. (no role that may view plans)")
    notice_reach = selectors.notice_reach_overview()
    context = {
        **admin.site.each_context(request),
        "title": "이전 현황 대시보드",
        "now": timezone.now(),
        "plans": selectors.plans_overview(),
        "campaigns": selectors.campaigns_progress(),
        "funnel": selectors.FUNNEL,
        "reviews": selectors.open_reviews(),
        "notice_reach": notice_reach,
        "notice_channels": NoticeChannel.choices,
        "notice_unreached": sum(r.unreached_total for r in notice_reach),
        "releases": selectors.releases_overview(),
        "reconciliations": selectors.reconciliation_overview(),
        "witnesses": witness_overview(),
    }
    return TemplateResponse(request, "operations/dashboard.html", context)
