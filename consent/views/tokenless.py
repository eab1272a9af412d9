"""The pages without a token: a notice text by its hash, the large-text toggle, the way
back in (a new link by phone number and a one-time code) and the receipts' public key."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit.signing import service_key_id
from consent.models import Notice
from consent.selectors import return_destinations
from consent.services.errors import ConsentError, TooManyAttempts
from consent.services.returning import FACTOR as RETURN_FACTOR
from consent.services.returning import (
    return_code_request,
    return_code_verify,
    return_link_issue,
)
from consent.views.links import (
    _TEXT_COOKIE,
    VERIFIED_SECONDS,
    _client_ip,
    _page,
    _set_verified_for,
    bad_link,
)

# --- Pages without a token --------------------------------------------------------------


@require_GET
def notice_text(request, text_hash: str):
    """A notice text by its hash (the receipt's policy link). Notices hold no personal data."""
    notice = Notice.objects.filter(text_hash=text_hash.lower()).first() \
        if len(text_hash) == 64 else None
    if notice is None:
        return bad_link(request)
    return _page(request, "consent/notice_text.html", {"notice": notice})


@require_GET
def text_size(request):
    """The large-text toggle: a cookie for a year, then back where the visitor was."""
    size = "large" if request.GET.get("size") == "large" else "normal"
    target = request.GET.get("next", "")
    if not (target.startswith("/c/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure())):
        target = "/"
    response = HttpResponseRedirect(target)
    if size == "large":
        response.set_cookie(_TEXT_COOKIE, "large", max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True, secure=request.is_secure())
    else:
        response.delete_cookie(_TEXT_COOKIE, samesite="Lax")
    return response


# --- The way back in: a new link by phone number and a one-time code (no token) ---------

_SESSION_RETURN = "consent_return"


def _return_session(request) -> dict:
    entry = request.session.get(_SESSION_RETURN) or {}
    return entry if entry.get("until", 0) > time.time() else {}


@never_cache
def return_start(request):
    """`/c/`: the subject types its mobile number; a code goes to it if we asked that number
    (the page says the same either way)."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.method == "POST":
        try:
            row = return_code_request(phone=request.POST.get("phone", ""),
                                      client_ip=_client_ip(request))
        except ConsentError as error:
            status = 429 if isinstance(error, TooManyAttempts) else 400
            return _page(request, "consent/return_start.html", {"error": error.message},
                         status=status)
        request.session[_SESSION_RETURN] = {"code": str(row.public_id),
                                            "until": row.expires_at.timestamp()}
        return HttpResponseRedirect(reverse("consent:return_code"))
    return _page(request, "consent/return_start.html", {})


@never_cache
def return_code(request):
    """The code from the SMS -> the choice of request (or straight on when there is one)."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    entry = _return_session(request)
    if not entry.get("code"):
        return HttpResponseRedirect(reverse("consent:return_start"))
    if request.method == "POST":
        try:
            subjects = return_code_verify(code_id=entry["code"],
                                          code=request.POST.get("code", ""),
                                          client_ip=_client_ip(request))
        except ConsentError as error:
            status = 429 if isinstance(error, TooManyAttempts) else 400
            return _page(request, "consent/return_code.html", {"error": error.message},
                         status=status)
        request.session.cycle_key()  # a new session id once the number is proven
        request.session[_SESSION_RETURN] = {
            "subjects": [s.public_id for s in subjects],
            "until": time.time() + VERIFIED_SECONDS}
        return HttpResponseRedirect(reverse("consent:return_choose"))
    return _page(request, "consent/return_code.html", {})


@never_cache
def return_choose(request):
    """The requests of the verified number's subjects: each opens its status page through a
    fresh link (`return_link_issue`), verified in this session by the code."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    subjects = _return_session(request).get("subjects")
    if not subjects:
        return HttpResponseRedirect(reverse("consent:return_start"))
    destinations = return_destinations(subject_ids=subjects)
    if request.method == "POST":
        chosen = next((r for r in destinations
                       if str(r.public_id) == request.POST.get("request", "")), None)
        if chosen is None:
            return _page(request, "consent/return_choose.html", {
                "destinations": destinations, "error": "보실 안내를 골라 주세요."},
                status=400)
        issued = return_link_issue(request=chosen, subjects=subjects)
        _set_verified_for(request, str(chosen.public_id), RETURN_FACTOR)
        return HttpResponseRedirect(reverse("consent:status", args=[issued.token]))
    return _page(request, "consent/return_choose.html", {"destinations": destinations})


@require_GET
def receipt_key(request):
    """The public key that signs every receipt, and how to check a receipt with it."""
    from django.http import JsonResponse

    from audit.signing import service_public_key_b64
    from consent.receipts import CANONICALIZATION

    return JsonResponse({"alg": "Ed25519", "keyId": service_key_id(),
                         "publicKey": service_public_key_b64(),
                         "publicKeyEncoding": "base64 of the raw 32-byte Ed25519 public key",
                         "signedPart": "receipt", "canonicalization": CANONICALIZATION,
                         "documentation": settings.PUBLIC_BASE_URL + reverse(
                             "consent:receipt_key")})
