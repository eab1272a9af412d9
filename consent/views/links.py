"""The pieces every consent page shares: the resolved link (`_Visit`), the page response
(`_page`), the bad-link page, the identity check kept in the session, and `link_view`, the
decorator every page behind a token goes through."""

from __future__ import annotations

import ipaddress
import time
from functools import cached_property, lru_cache, wraps

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import get_script_prefix, reverse
from django.views.decorators.cache import never_cache

from consent.models import ConsentRequest, Notice
from consent.notices import notice_for_page
from consent.selectors import link_request_for_page
from consent.services.decisions import request_is_live, request_is_open, request_items
from consent.services.errors import ConsentError
from consent.views.page_cache import shared_copy_response, slot
from governance.models import DataSubject
from governance.selectors.consent_page import plan_for_page

VERIFIED_SECONDS = 15 * 60
_SESSION_VERIFIED = "consent_verified"
_SESSION_PENDING = "consent_pending"
_TEXT_COOKIE = "consent_text"
AGREE, DECLINE = "agree", "decline"

# --- Shared pieces ----------------------------------------------------------------------


def _large_text(request) -> bool:
    return (request.GET.get("text") == "large"
            or request.COOKIES.get(_TEXT_COOKIE) == "large")


def _text_size_url() -> str:
    return _url_pattern(get_script_prefix(), "text_size")


def _toggle_url(request, large: bool) -> str:
    return (_text_size_url() + "?size=" + ("normal" if large else "large")
            + "&next=" + request.path)


def _page(request, template: str, context: dict | None = None, *, status: int = 200):
    context = dict(context or {})
    large = _large_text(request)
    context.update({
        "call_centre": settings.CALL_CENTRE_PHONE,
        "large_text": large,
        "text_toggle_url": _toggle_url(request, large),
    })
    return render(request, template, context, status=status)


# The pages a shared copy may link to (`_shared_page`).
_SHARED_URLS = ("landing", "notice", "confirm", "status", "withdraw", "object", "early",
                "early_withdraw")


def _shared_page(request, visit: _Visit, template: str, context: dict,
                 fill: dict[str, str] | None = None) -> HttpResponse:
    """As `_page`, as a shared copy (`consent.views.page_cache`): ``context`` holds plain
    values only; ``visit`` (its kind, reference and addresses), the text size, the call
    centre and the CSRF token are added here, the per-visit ones as slots."""
    large = _large_text(request)
    context = {
        **context,
        "visit": {"is_merchant": visit.is_merchant, "reference": slot("reference"),
                  "urls": {name: slot(f"url:{name}") for name in _SHARED_URLS}},
        "call_centre": settings.CALL_CENTRE_PHONE, "large_text": large,
        "text_toggle_url": slot("toggle"), "csrf_token": slot("csrf"),
    }
    fill = {
        **(fill or {}),
        "reference": visit.reference, "csrf": get_token(request),
        "toggle": _toggle_url(request, large),
        **{f"url:{name}": visit.url(name) for name in _SHARED_URLS},
    }
    return shared_copy_response(template, context, fill)


def bad_link(request, *args, **kwargs):
    """The one page for every link that does not lead anywhere (same status for all)."""
    return _page(request, "consent/bad_link.html", status=404)


_TOKEN_SLOT = "T" * 22  # a well-formed token (the URL patterns take any string anyway)


@lru_cache(maxsize=64)
def _url_pattern(script_prefix: str, name: str) -> str:
    """A page's address with a slot for the token: reversed once, not on every request."""
    if name == "text_size":
        return reverse("consent:text_size")
    return reverse(f"consent:{name}", args=[_TOKEN_SLOT])


class _Urls:
    """For templates: ``visit.urls.notice`` etc., each reversed only when used."""

    def __init__(self, visit: _Visit):
        self._visit = visit

    def __getitem__(self, name: str) -> str:
        return self._visit.url(name)



class _Visit:
    """A resolved link: the request (with campaign and subject loaded) and its token."""

    def __init__(self, req: ConsentRequest, token: str):
        self.token = token
        self.req = req
        self.subject: DataSubject = req.subject
        self.factor = ""  # the identity factor, once verified in this session
        self.urls = _Urls(self)

    @cached_property
    def plan(self):
        plan = plan_for_page(self.req.campaign.plan_id)
        self.req.campaign.plan = plan  # request_items reads it from there
        return plan

    def items(self):
        self.plan  # noqa: B018 - loads the plan onto the campaign first
        return request_items(request=self.req, for_page=True)  # the page's copy

    def notice(self, kind: str) -> Notice:
        """The page's copy of the plan's current notice of ``kind`` for this subject."""
        return notice_for_page(self.plan.pk, self.subject.kind, kind)

    def url(self, name: str, *args) -> str:
        if args:
            return reverse(f"consent:{name}", args=[self.token, *args])
        return _url_pattern(get_script_prefix(), name).replace(_TOKEN_SLOT, self.token)

    @property
    def reference(self) -> str:
        return str(self.req.public_id)[:8].upper()

    @property
    def is_merchant(self) -> bool:
        return self.subject.kind == DataSubject.Kind.MERCHANT


def _resolve(token: str, *, after_close: bool = False) -> _Visit | None:
    """The visit behind ``token`` while its request is open; with ``after_close``, a link
    issued by the way back in (`/c/`, ``via_code``) also reaches a request whose answer
    period is over (not a cancelled one)."""
    req = link_request_for_page(token)
    if req is None:
        return None
    if not request_is_open(req) and not (after_close and req.via_code
                                         and request_is_live(req)):
        return None
    return _Visit(req, token)


def _verified_factor(request, visit: _Visit) -> str | None:
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return None  # no session cookie: skip the session query entirely
    entry = request.session.get(_SESSION_VERIFIED, {}).get(str(visit.req.public_id))
    if not entry or entry.get("until", 0) < time.time():
        return None
    return entry.get("factor")


def _set_verified(request, visit: _Visit, factor: str) -> None:
    _set_verified_for(request, str(visit.req.public_id), factor)


def _set_verified_for(request, request_public_id: str, factor: str) -> None:
    request.session.cycle_key()  # a new session id after the check (no fixation)
    verified = {k: v for k, v in request.session.get(_SESSION_VERIFIED, {}).items()
                if v.get("until", 0) > time.time()}
    verified[request_public_id] = {"until": time.time() + VERIFIED_SECONDS, "factor": factor}
    request.session[_SESSION_VERIFIED] = verified


def link_view(*, verified: bool, methods=("GET",), after_close: bool = False):
    """Resolve the token (or show the bad-link page); if ``verified``, require the identity
    check for this request in this session (or send the visitor back to it). ``after_close``:
    the page also serves a closed request through a link of the way back in (`_resolve`)."""

    def decorate(view):
        @never_cache
        @wraps(view)
        def wrapper(request, token: str, *args, **kwargs):
            visit = _resolve(token, after_close=after_close)
            if visit is None:  # first, so a bad link answers the same to every method
                return bad_link(request)
            if request.method not in methods:
                return HttpResponseNotAllowed(list(methods))
            if verified:
                factor = _verified_factor(request, visit)
                if factor is None:
                    return HttpResponseRedirect(visit.url("landing"))
                visit.factor = factor
            return view(request, visit, *args, **kwargs)

        return wrapper

    return decorate


def _client_ip(request) -> str:
    """The visitor's address for the rate limit. Behind our TLS proxy (BEHIND_TLS_PROXY sets
    SECURE_PROXY_SSL_HEADER) every request comes from the proxy, so take the last
    X-Forwarded-For entry: the one our proxy appended (earlier ones are the client's word).
    IPv6 addresses count per /64, as one subscriber usually holds a whole /64."""
    address = request.META.get("REMOTE_ADDR") or ""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        address = forwarded or address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip)


def _error_page(request, visit: _Visit, error: ConsentError, *, status: int = 409):
    return _page(request, "consent/problem.html", {"visit": visit, "message": error.message},
                 status=status)
