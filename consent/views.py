"""The merchant's (and user's) consent page, reached from the personal link in an SMS.

Plain HTML forms, POST-redirect-GET, CSRF, no JavaScript needed. The flow:

    GET  /c/<token>            the Art. 27 notice when the request has notice items (public:
                               no identity check to read it; its first showing is evidence
                               that the notice reached the subject), and the identity form
                               (business number; users: phone last four)
    POST /c/<token>            check -> the verified state goes into the session, bound to
                               this request, for VERIFIED_SECONDS
    GET  /c/<token>/notice     the Art. 17(2) notice, agree/decline per optional item, the
                               required items stated plainly (and the Art. 27 notice if any)
    POST /c/<token>/notice     the choices wait in the session -> confirm
    GET/POST /c/<token>/confirm          -> consent_answer -> the receipt
    GET  /c/<token>/status     the current decision: change, withdraw, object
    GET/POST /c/<token>/withdraw         -> consent_withdraw -> the receipt
    GET/POST /c/<token>/object           -> consent_object -> the receipt
    GET/POST /c/<token>/early            "지금 이전하기" -> consent_early_request -> the receipt
    GET/POST /c/<token>/early/withdraw   -> consent_early_withdraw -> the receipt
    GET  /c/<token>/receipt/<id>[.json]  the receipt page / the signed JSON download

Without a token (the way back in, consent/services/returning.py):

    GET/POST /c/               the mobile number -> a one-time code by SMS (same page for a
                               number we never asked)
    GET/POST /c/code           the code -> the session knows the number's subjects
    GET/POST /c/choose         one of their requests -> a fresh short-lived link (never
                               sent), verified in the session, to its status page; such a
                               link also serves a request whose answer period is over
                               (status, withdraw, object, early, receipts)
    GET  /c/receipt-key        the public key that signs receipts (JSON)

Every bad link — malformed, truncated, unknown, revoked, expired, request expired or
cancelled — gets the same page with the same status (404), so a visitor learns nothing about
whether a subject or a request exists. Views speak HTTP only; the rules are in the services.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from functools import cached_property, lru_cache, wraps

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from audit.services import audit_record
from audit.signing import service_key_id
from consent.models import ConsentRecord, ConsentRequest, Notice
from consent.notices import notice_current
from consent.receipts import receipt_build, receipt_file_bytes
from consent.selectors import (
    consent_current,
    consent_history,
    consent_record_for_request,
    link_request_for_page,
    plan_field_rules,
    plan_for_display,
    return_destinations,
)
from consent.selectors_page import provision_since, subject_notice_reached, subject_state
from consent.services.decisions import (
    consent_answer,
    consent_object,
    consent_withdraw,
    request_is_live,
    request_is_open,
    request_items,
)
from consent.services.early import AlreadyMoved, consent_early_request, consent_early_withdraw
from consent.services.errors import ConsentError, IdentityLocked, TooManyAttempts
from consent.services.identity import identity_locked, identity_verify
from consent.services.returning import FACTOR as RETURN_FACTOR
from consent.services.returning import (
    return_code_request,
    return_code_verify,
    return_link_issue,
)
from governance.models import DataSubject, NoticeChannel
from governance.services import Evidence, GovernanceError, notice_evidence_record

log = logging.getLogger(__name__)

VERIFIED_SECONDS = 15 * 60
PAGE_CACHE_SECONDS = 60  # notices, items and plans for display
_SESSION_VERIFIED = "consent_verified"
_SESSION_PENDING = "consent_pending"
_TEXT_COOKIE = "consent_text"
_PRE_OPENED = (ConsentRequest.Status.CREATED, ConsentRequest.Status.SENT,
               ConsentRequest.Status.DELIVERED, ConsentRequest.Status.FAILED)
AGREE, DECLINE = "agree", "decline"


# --- Shared pieces ----------------------------------------------------------------------


def _large_text(request) -> bool:
    return (request.GET.get("text") == "large"
            or request.COOKIES.get(_TEXT_COOKIE) == "large")


def _text_size_url() -> str:
    return _url_pattern(get_script_prefix(), "text_size")


def _page(request, template: str, context: dict | None = None, *, status: int = 200):
    context = dict(context or {})
    large = _large_text(request)
    context.update({
        "call_centre": settings.CALL_CENTRE_PHONE,
        "large_text": large,
        "text_toggle_url": (_text_size_url() + "?size="
                            + ("normal" if large else "large") + "&next="
                            + request.path),
    })
    return render(request, template, context, status=status)


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
        plan = plan_for_display(self.req.campaign.plan_id, max_age=PAGE_CACHE_SECONDS)
        self.req.campaign.plan = plan  # request_items reads it from there
        return plan

    def items(self):
        self.plan  # noqa: B018 - loads the plan onto the campaign first
        return request_items(request=self.req, max_age=PAGE_CACHE_SECONDS)

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


def _mark_opened(visit: _Visit, *, notice_shown: Notice | None) -> None:
    """First opening of the request's links: timestamp, status, audit (once, race-safe).

    ``notice_shown``: the Art. 27 notice this opening shows the subject. Its first showing is
    evidence that the notice reached them (`NoticeChannel.LINK`, referenced by the request),
    recorded in the same transaction as the timestamp, so once however many tabs open at once.
    """
    if visit.req.opened_at is not None:
        return
    now = timezone.now()
    with transaction.atomic():
        if not ConsentRequest.objects.filter(pk=visit.req.pk, opened_at__isnull=True).update(
                opened_at=now):
            return
        ConsentRequest.objects.filter(pk=visit.req.pk, status__in=_PRE_OPENED).update(
            status=ConsentRequest.Status.OPENED)
        audit_record(actor_type=AuditEvent.ActorType.SYSTEM, actor_id="system:consent.page",
                     action="consent.link_opened", target_type="consent_request",
                     target_id=str(visit.req.public_id),
                     details={"request": str(visit.req.public_id),
                              "notice_shown": notice_shown.text_hash if notice_shown else ""})
        if notice_shown is not None:
            _notice_reached_by_link(visit, now)


def _notice_reached_by_link(visit: _Visit, now) -> None:
    subject = visit.subject
    try:
        with transaction.atomic():  # a refusal must not undo the opening itself
            notice_evidence_record(
                plan=visit.plan, by=(AuditEvent.ActorType.SUBJECT, f"subject:{subject.public_id}"),
                evidence=[Evidence(subject, NoticeChannel.LINK, now, str(visit.req.public_id))])
    except GovernanceError:
        # Governance refuses evidence it cannot stand behind (say, a plan that left force a
        # moment ago): the page still shows, and the subject stays unreached by this link.
        log.exception("notice evidence refused for request %s", visit.req.public_id)


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


# --- Identity ---------------------------------------------------------------------------


@link_view(verified=False, methods=("GET", "POST"), after_close=True)
def landing(request, visit: _Visit):
    if request.method == "POST":
        try:
            factor = identity_verify(request=visit.req, answer=request.POST.get("answer", ""),
                                     client_ip=_client_ip(request))
        except ConsentError as error:
            status = 429 if isinstance(error, TooManyAttempts) else (
                403 if isinstance(error, IdentityLocked) else 400)
            return _identity_form(request, visit, error=error.message, status=status)
        _set_verified(request, visit, factor)
        return HttpResponseRedirect(_next_step(visit, then=request.POST.get("then", "")))
    transfer = _public_transfer_notice(visit)
    _mark_opened(visit, notice_shown=transfer)
    if _verified_factor(request, visit):
        # The next step (status or notice) shows the Art. 27 notice too.
        return HttpResponseRedirect(_next_step(visit))
    return _identity_form(request, visit)


def _public_transfer_notice(visit: _Visit) -> Notice | None:
    """The Art. 27 notice the landing shows before any identity check: public information
    about the plan (who receives, what, when, how to object). None when the request has no
    notice items, or its plan is no longer in force (nothing would move on it)."""
    if not visit.items().notice or not visit.plan.in_force:
        return None
    return notice_current(plan=visit.plan, subject_kind=visit.subject.kind,
                          kind=Notice.Kind.TRANSFER, max_age=PAGE_CACHE_SECONDS)


# What the landing's buttons under the Art. 27 notice ask to do once the identity is checked.
_THEN_STEPS = ("early", "object")


def _next_step(visit: _Visit, *, then: str = "") -> str:
    """Where the chosen button leads ("지금 이전하기", "이전 거부하기" under the notice);
    otherwise a first visit goes to the notice, a later one (or one with nothing to consent
    to, only an Art. 27 notice) to the current decision."""
    if then in _THEN_STEPS and visit.items().notice:
        return visit.url(then)
    if not request_is_open(visit.req):  # reached through the way back in, answers closed
        return visit.url("status")
    has_record = consent_current(request=visit.req) is not None
    if has_record or not visit.items().consent:
        return visit.url("status")
    return visit.url("notice")


def _identity_form(request, visit: _Visit, *, error: str = "", status: int = 200):
    locked = identity_locked(visit.req)
    transfer = _public_transfer_notice(visit)
    if not error and not locked:
        return _blank_identity_form(request, visit, transfer)
    return _page(request, "consent/verify.html", {
        "visit": visit, "error": error, "locked": locked, "transfer": transfer,
        "has_consent": bool(visit.items().consent),
    }, status=status)


class _Placeholder:
    """Stands in for a visit while a page is rendered once per process (see `_filled_page`)."""

    reference = "\x00reference\x00"

    def __init__(self, kind: str):
        self.is_merchant = kind == DataSubject.Kind.MERCHANT
        self.urls = {name: f"\x00url:{name}\x00" for name in (
            "landing", "notice", "confirm", "status", "withdraw", "object", "early",
            "early_withdraw")}


_FILLED: dict[tuple, str] = {}
_FILLED_MAX = 256  # kinds x text sizes x notice versions x item sets: a handful in practice


def _filled_page(request, visit: _Visit, template: str, key: tuple, context: dict,
                 extra: dict[str, str] | None = None) -> HttpResponse:
    """``template`` rendered once per process for ``key`` with markers where a visit differs
    (the request's reference, its page addresses, the text-size link, the CSRF token and the
    ``extra`` markers, e.g. which radio buttons are checked), then filled in per visit.

    The first page of a link and the notice are what the rush after a campaign opens; their
    template rendering was a third of the page's cost (bench/consent_page.py). Error states go
    through the template as usual. ``key`` must cover everything else the page shows.
    """
    large = _large_text(request)
    full_key = (template, visit.subject.kind, large, settings.CALL_CENTRE_PHONE, *key)
    html = _FILLED.get(full_key)
    if html is None:
        html = render_to_string(template, {
            **context, "visit": _Placeholder(visit.subject.kind),
            "call_centre": settings.CALL_CENTRE_PHONE, "large_text": large,
            "text_toggle_url": "\x00toggle\x00", "csrf_token": "\x00csrf\x00"})
        if len(_FILLED) >= _FILLED_MAX:
            _FILLED.clear()
        _FILLED[full_key] = html
    toggle = (_text_size_url() + "?size=" + ("normal" if large else "large")
              + "&next=" + request.path)
    values = {"\x00reference\x00": visit.reference, "\x00toggle\x00": toggle,
              "\x00csrf\x00": get_token(request), **(extra or {})}
    values.update({f"\x00url:{name}\x00": visit.url(name)
                   for name in _Placeholder("").urls if f"\x00url:{name}\x00" in html})
    for marker, value in values.items():
        html = html.replace(marker, escape(value))
    return HttpResponse(html)


def _blank_identity_form(request, visit: _Visit, transfer: Notice | None) -> HttpResponse:
    """The identity form as first shown (below the Art. 27 notice when there is one): the page
    every SMS link opens. The notice is the same for every subject of the plan and kind, so
    it is part of the shared copy, keyed by the notice row and its text."""
    has_consent = bool(visit.items().consent)
    key = (transfer.pk, transfer.text_hash, has_consent) if transfer else ()
    return _filled_page(request, visit, "consent/verify.html", key,
                        {"error": "", "locked": False, "transfer": transfer,
                         "has_consent": has_consent})


# --- The notice and the answer ----------------------------------------------------------


def _choices_context(visit: _Visit, chosen: dict[str, str] | None = None, *,
                     markers: bool = False) -> dict:
    items = visit.items()
    notice = notice_current(plan=visit.plan, subject_kind=visit.subject.kind,
                            kind=Notice.Kind.CONSENT, max_age=PAGE_CACHE_SECONDS)
    transfer = (notice_current(plan=visit.plan, subject_kind=visit.subject.kind,
                               kind=Notice.Kind.TRANSFER, max_age=PAGE_CACHE_SECONDS)
                if items.notice else None)
    chosen = chosen or {}
    required = [i for i in items.consent.values() if i.required]
    required_choice = chosen.get(required[0].key, "") if required else ""

    def checked(key: str, choice: str, value: str) -> str:
        return f"\x00checked:{key}:{value}\x00" if markers else (
            "checked" if choice == value else "")

    optional = [{"item": i, "agree": checked(i.key, chosen.get(i.key, ""), AGREE),
                 "decline": checked(i.key, chosen.get(i.key, ""), DECLINE)}
                for i in items.consent.values() if not i.required]
    return {"visit": visit, "items": items, "notice": notice, "transfer": transfer,
            "required": required, "required_labels": ", ".join(i.label for i in required),
            "required_agree": checked("required", required_choice, AGREE),
            "required_decline": checked("required", required_choice, DECLINE),
            "optional": optional}


def _notice_page(request, visit: _Visit, chosen: dict[str, str]) -> HttpResponse:
    """The notice with the subject's choices so far (see `_filled_page`)."""
    context = _choices_context(visit, markers=True)
    required = context["required"]
    required_choice = chosen.get(required[0].key, "") if required else ""
    extra = {f"\x00checked:required:{v}\x00": "checked" if required_choice == v else ""
             for v in (AGREE, DECLINE)}
    for entry in context["optional"]:
        key = entry["item"].key
        extra.update({f"\x00checked:{key}:{v}\x00": "checked" if chosen.get(key) == v
                      else "" for v in (AGREE, DECLINE)})
    transfer = context["transfer"]
    key = (context["notice"].text_hash, transfer.text_hash if transfer else "",
           tuple(context["items"].consent), tuple(context["items"].notice))
    return _filled_page(request, visit, "consent/notice.html", key, context, extra)


def _current_choices(visit: _Visit) -> dict[str, str]:
    state = visit.req.consent_state  # read with the link
    if state is None or state.withdrawn_at is not None:
        return {}
    return {**{k: AGREE for k in state.fields_granted},
            **{k: DECLINE for k in state.fields_declined}}


@link_view(verified=True, methods=("GET", "POST"))
def notice(request, visit: _Visit):
    if request.method == "POST":
        return _notice_post(request, visit)
    pending = request.session.get(_SESSION_PENDING)
    if pending and pending.get("request") == str(visit.req.public_id):
        chosen = {**{k: AGREE for k in pending["agreed"]},
                  **{k: DECLINE for k in pending["declined"]}}
    else:
        chosen = _current_choices(visit)
    return _notice_page(request, visit, chosen)


def _notice_post(request, visit: _Visit):
    context = _choices_context(visit)
    items = context["items"]
    answers: dict[str, str] = {}
    missing = []
    if context["required"]:
        value = request.POST.get("required")
        if value in (AGREE, DECLINE):
            answers.update({i.key: value for i in context["required"]})
        else:
            missing.append(context["required_labels"])
    for entry in context["optional"]:
        item = entry["item"]
        value = request.POST.get(f"opt:{item.key}")
        if value in (AGREE, DECLINE):
            answers[item.key] = value
        else:
            missing.append(item.label)
    if missing or not items.consent:
        context = _choices_context(visit, answers)
        context["error"] = ("다음 항목에 동의 또는 동의하지 않음을 선택해 주세요: "
                            + ", ".join(missing))
        return _page(request, "consent/notice.html", context, status=400)
    request.session[_SESSION_PENDING] = {
        "request": str(visit.req.public_id),
        "agreed": sorted(k for k, v in answers.items() if v == AGREE),
        "declined": sorted(k for k, v in answers.items() if v == DECLINE),
        "notice_hash": context["notice"].text_hash,
    }
    return HttpResponseRedirect(visit.url("confirm"))


@link_view(verified=True, methods=("GET", "POST"))
def confirm(request, visit: _Visit):
    pending = request.session.get(_SESSION_PENDING)
    if not pending or pending.get("request") != str(visit.req.public_id):
        return HttpResponseRedirect(visit.url("notice"))
    if request.method == "POST":
        try:
            record = consent_answer(request=visit.req, agreed=pending["agreed"],
                                    declined=pending["declined"],
                                    channel=ConsentRecord.Channel.WEB,
                                    identity_factor=visit.factor,
                                    notice_hash=pending["notice_hash"])
        except ConsentError as error:
            return _error_page(request, visit, error)
        request.session.pop(_SESSION_PENDING, None)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items().consent
    return _page(request, "consent/confirm.html", {
        "visit": visit,
        "agreed": [i for k, i in items.items() if k in pending["agreed"]],
        "declined": [i for k, i in items.items() if k in pending["declined"]],
        **_what_moves(visit, agreed=set(pending["agreed"])),
    })


def _what_moves(visit: _Visit, *, agreed: set[str]) -> dict:
    """The plan's items for this subject in three lists: moving on this consent, moving on
    another basis (which, per item), staying (declined, not asked, never moved)."""
    from consent.receipts import BASIS_GROUNDS
    from governance.models import FieldRule

    Basis = FieldRule.Basis
    state = visit.req.consent_state
    objected = bool(state and state.objected)
    other, stays = [], []
    for rule in plan_field_rules(plan_id=visit.plan.pk, subject_kind=visit.subject.kind):
        if rule.basis == Basis.CONSENT:
            if rule.field.key not in agreed:
                stays.append({"label": rule.field.label_ko, "why": "동의하지 않음"})
        elif rule.basis == Basis.PROHIBITED or (rule.basis == Basis.NOTICE_OPT_OUT and objected):
            stays.append({"label": rule.field.label_ko,
                          "why": "이전 거부" if rule.basis == Basis.NOTICE_OPT_OUT
                          else (rule.note or "이전하지 않는 항목")})
        else:
            other.append({"label": rule.field.label_ko,
                          "basis": BASIS_GROUNDS.get(rule.basis, rule.basis)})
    return {"moves_other": other, "stays": stays}


# --- Later visits: the current decision, withdrawal, objection --------------------------


@link_view(verified=True, after_close=True)
def status(request, visit: _Visit):
    """What the subject sees after acting: the consent answers, and for Art. 27 items how
    and when the notice reached them, their early request and objection; every receipt.
    Read afresh on each visit (no shared copy): it is the page that must never be stale."""
    items = visit.items()
    state = subject_state(plan=visit.plan, subject=visit.subject)
    granted = set(state.fields_granted) if state and state.withdrawn_at is None else set()
    declined = set(state.fields_declined) if state else set()
    history = consent_history(request=visit.req)
    return _page(request, "consent/status.html", {
        "visit": visit, "state": state, "items": items,
        "agreed": [i for k, i in items.consent.items() if k in granted],
        "declined": [i for k, i in items.consent.items() if k in declined and k not in granted],
        "pending": [i for k, i in items.consent.items() if k not in granted | declined],
        "answered": bool(granted | declined),
        "can_withdraw": bool(granted), "objected": bool(state and state.objected),
        "answer_open": request_is_open(visit.req),
        "history": history,
        **(_transfer_status(visit, state, history) if items.notice else {}),
    })


def _transfer_status(visit: _Visit, state, history: list[ConsentRecord]) -> dict:
    """The Art. 27 part of the status page."""
    items = visit.items().notice
    early_at = state.early_requested_at if state else None
    last_early = next((r for r in history if r.action in (ConsentRecord.Action.EARLY_REQUEST,
                                                          ConsentRecord.Action.EARLY_WITHDRAW)),
                      None)
    moved = (provision_since(plan=visit.plan, items=list(items), since=early_at)
             if early_at else None)
    return {
        "transfer": notice_current(plan=visit.plan, subject_kind=visit.subject.kind,
                                   kind=Notice.Kind.TRANSFER, max_age=PAGE_CACHE_SECONDS),
        "transfer_items": list(items.values()),
        "reached": subject_notice_reached(plan=visit.plan, subject=visit.subject),
        "early_at": early_at, "early_moved": moved,
        "early_withdrawn": (last_early if early_at is None and last_early is not None
                            and last_early.action == ConsentRecord.Action.EARLY_WITHDRAW
                            else None),
        "cutover_at": visit.plan.cutover_at,
    }


@link_view(verified=True, methods=("GET", "POST"), after_close=True)
def withdraw(request, visit: _Visit):
    if request.method == "POST":
        try:
            record = consent_withdraw(request=visit.req, channel=ConsentRecord.Channel.WEB,
                                      identity_factor=visit.factor)
        except ConsentError as error:
            return _error_page(request, visit, error)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items().consent
    state = visit.req.consent_state
    granted = [items[k] for k in (state.fields_granted if state and not state.withdrawn_at
                                  else []) if k in items]
    return _page(request, "consent/withdraw.html", {"visit": visit, "granted": granted})


@link_view(verified=True, methods=("GET", "POST"), after_close=True)
def object_transfer(request, visit: _Visit):
    if request.method == "POST":
        try:
            record = consent_object(request=visit.req, channel=ConsentRecord.Channel.WEB,
                                    identity_factor=visit.factor)
        except ConsentError as error:
            return _error_page(request, visit, error)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items()
    if not items.notice:
        return HttpResponseRedirect(visit.url("status"))
    transfer = notice_current(plan=visit.plan, subject_kind=visit.subject.kind,
                              kind=Notice.Kind.TRANSFER, max_age=PAGE_CACHE_SECONDS)
    return _page(request, "consent/object.html", {
        "visit": visit, "transfer": transfer, "items": list(items.notice.values())})


# --- Moving early (Art. 27) -------------------------------------------------------------


@link_view(verified=True, methods=("GET", "POST"), after_close=True)
def early(request, visit: _Visit):
    """"지금 이전하기": the subject asks for its Art. 27 items to move now."""
    if request.method == "POST":
        try:
            record = consent_early_request(
                request=visit.req, channel=ConsentRecord.Channel.WEB,
                identity_factor=visit.factor,
                notice_hash=request.POST.get("notice_hash") or None)
        except ConsentError as error:
            return _error_page(request, visit, error)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items()
    if not items.notice:
        return HttpResponseRedirect(visit.url("status"))
    state = subject_state(plan=visit.plan, subject=visit.subject)
    return _page(request, "consent/early.html", {
        "visit": visit, "items": list(items.notice.values()),
        "transfer": notice_current(plan=visit.plan, subject_kind=visit.subject.kind,
                                   kind=Notice.Kind.TRANSFER, max_age=PAGE_CACHE_SECONDS),
        "objected": bool(state and state.objected),
        "early_at": state.early_requested_at if state else None,
    })


@link_view(verified=True, methods=("GET", "POST"), after_close=True)
def early_withdraw(request, visit: _Visit):
    """Taking the early request back, while no release has carried it."""
    if request.method == "POST":
        try:
            record = consent_early_withdraw(request=visit.req,
                                            channel=ConsentRecord.Channel.WEB,
                                            identity_factor=visit.factor)
        except AlreadyMoved as error:
            return _page(request, "consent/problem.html", {
                "visit": visit, "message": error.message, "offer_object": True}, status=409)
        except ConsentError as error:
            return _error_page(request, visit, error)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items().notice
    state = subject_state(plan=visit.plan, subject=visit.subject)
    if not items or state is None or state.early_requested_at is None:
        return HttpResponseRedirect(visit.url("status"))
    moved = provision_since(plan=visit.plan, items=list(items), since=state.early_requested_at)
    return _page(request, "consent/early_withdraw.html", {
        "visit": visit, "items": list(items.values()), "early_at": state.early_requested_at,
        "moved": moved, "objected": state.objected,
    })


# --- Receipts ---------------------------------------------------------------------------


def _record_or_404(visit: _Visit, receipt_id) -> ConsentRecord:
    record = consent_record_for_request(request=visit.req, receipt_id=receipt_id)
    if record is None:
        raise Http404
    return record


@link_view(verified=True, after_close=True)
def receipt(request, visit: _Visit, receipt_id):
    try:
        record = _record_or_404(visit, receipt_id)
    except Http404:
        return bad_link(request)
    return _page(request, "consent/receipt.html", {
        "visit": visit, "record": record, "receipt": receipt_build(record),
        "done": request.GET.get("done") == "1", "key_id": service_key_id(),
    })


@link_view(verified=True, after_close=True)
def receipt_download(request, visit: _Visit, receipt_id):
    try:
        record = _record_or_404(visit, receipt_id)
    except Http404:
        return bad_link(request)
    response = HttpResponse(receipt_file_bytes(record),
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="consent-receipt-{record.receipt_id}.json"')
    return response


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
