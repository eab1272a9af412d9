"""The public privacy page (개인정보 처리방침): no login, the current version and any older
one by its hash. Text from governance.privacy; nothing personal is shown or read."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from governance.models import PrivacyPolicyVersion
from governance.privacy import blocks_of, privacy_page_ref, privacy_policy_current


def _page(request: HttpRequest, row: PrivacyPolicyVersion, *, current: bool) -> HttpResponse:
    return TemplateResponse(request, "governance/privacy.html", {
        "policy": row, "ref": privacy_page_ref(row), "blocks": blocks_of(row.text),
        "current": current})


@require_safe
def privacy(request: HttpRequest) -> HttpResponse:
    return _page(request, privacy_policy_current(), current=True)


@require_safe
def privacy_version(request: HttpRequest, text_hash: str) -> HttpResponse:
    row = PrivacyPolicyVersion.objects.filter(text_hash=text_hash.lower()).first()
    if row is None:
        raise Http404("no such version of the privacy policy")
    latest = PrivacyPolicyVersion.objects.order_by("-version").values_list("pk", flat=True)
    return _page(request, row, current=row.pk == latest.first())
