"""The SMS provider's webhooks: status callbacks and inbound replies (Twilio's format).

Every request must carry a valid ``X-Twilio-Signature`` over the URL Twilio called and the
POSTed form, checked with the SDK's `RequestValidator` under our auth token. Behind a
TLS-terminating proxy the URL this server sees is not the one Twilio signed, so it is rebuilt:
from ``PUBLIC_BASE_URL`` (the address we gave Twilio), and from the forwarded headers when
Django is told to trust them (``BEHIND_TLS_PROXY`` / ``USE_X_FORWARDED_HOST``).

A signed request seen before (the same signature over the same URL and form) is a replay and
is refused (403): the first copy claims its key before it is handled, so of identical copies
arriving at once only one is handled; a copy whose handling raised gives its claim back, so
Twilio's retry gets in. Forged or missing signatures are refused (403).
Twilio's own duplicate and out-of-order callbacks are harmless either way: a message's status
only moves forward, and a reply is applied once per message sid.
"""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from consent.services.replies import sms_reply_receive
from consent.services.sending import sms_status_update

log = logging.getLogger(__name__)
REPLAY_WINDOW = 7 * 24 * 3600  # Twilio retries within hours; a week is ample
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _candidate_urls(request: HttpRequest) -> list[str]:
    urls = [settings.PUBLIC_BASE_URL + request.get_full_path()]
    seen = request.build_absolute_uri()  # honours SECURE_PROXY_SSL_HEADER, X-Forwarded-Host
    if seen not in urls:
        urls.append(seen)
    return urls


def _verified(request: HttpRequest) -> str | None:
    """The replay key of a correctly signed request, or None."""
    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.TWILIO_AUTH_TOKEN
    if not signature or not token:
        return None
    validator = RequestValidator(token)
    params = request.POST.dict()
    for url in _candidate_urls(request):
        if validator.validate(url, params, signature):
            return "twilio-seen:" + hashlib.sha256(
                (signature + "\n" + url + "\n" + urlencode(sorted(params.items())))
                .encode()).hexdigest()
    return None


def _guarded(handler):
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        key = _verified(request)
        if key is None:
            log.warning("webhook %s: bad or missing signature", request.path)
            return HttpResponseForbidden("invalid signature")
        if not _claim(key):
            log.warning("webhook %s: replayed request refused", request.path)
            return HttpResponseForbidden("replayed request")
        try:
            return handler(request)
        except BaseException:
            cache.delete(key)  # not processed: Twilio's retry of it must get in
            raise
    return view


def _claim(key: str) -> bool:
    """True for the first of any number of concurrent requests with this key. ``cache.add``
    is one atomic step on the in-process cache and on Redis (SET NX): a get, then a set,
    let ten identical callbacks at once all through."""
    return cache.add(key, 1, REPLAY_WINDOW)


@_guarded
def status_callback(request: HttpRequest) -> HttpResponse:
    sms_status_update(provider_sid=request.POST.get("MessageSid", ""),
                      provider_status=request.POST.get("MessageStatus", ""),
                      reference=request.GET.get("m", ""),
                      error_code=request.POST.get("ErrorCode", ""))
    return HttpResponse(status=204)


@_guarded
def inbound_sms(request: HttpRequest) -> HttpResponse:
    sid = request.POST.get("MessageSid", "")
    sender = request.POST.get("From", "")
    if not sid or not sender:
        return HttpResponse("MessageSid and From are required", status=400)
    sms_reply_receive(provider_sid=sid, from_phone=sender, body=request.POST.get("Body", ""))
    # No automatic answer: a reply to a reply would be a second SMS we did not plan.
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
