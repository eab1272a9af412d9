"""Staff sessions: ended when idle, and the acting account named for the permission history.

Why a middleware and not SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST: those apply to
every session, the merchants' consent page included, which would then write its session on
every step (bench/consent_page.py measures that page) and get the officers' 30-minute
limit. Here only a logged-in session is timed, and its time is refreshed at most once a
minute, so an officer's page views cost no session write each.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from audit.services import audit_event, officer_actor

LAST_ACTIVITY_KEY = "officers_last_activity"
# The stored time moves on at most this often: an idle limit of N minutes ends a session
# after N minutes without a request, give or take this.
REFRESH_SECONDS = 60
# How long the session row (and its cookie) outlives the idle limit. This middleware, not
# the row's expiry, ends an idle session; a row that died with the limit would leave an
# officer back from lunch at a bare login page, told nothing, and no staff.session_expired
# entry recorded. Past this the row goes too, as a backstop.
ROW_GRACE_SECONDS = 12 * 3600

# Who is acting in this request (for permission-history events): an (actor_type, actor_id)
# pair, or None outside a request (a shell, a command: recorded as system:console).
current_actor: ContextVar[tuple[str, str] | None] = ContextVar("officers_actor", default=None)


@contextmanager
def acting_as(actor: tuple[str, str]):
    token = current_actor.set(actor)
    try:
        yield
    finally:
        current_actor.reset(token)


class StaffSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        now = time.time()
        idle_limit = settings.STAFF_SESSION_IDLE_MINUTES * 60
        last = request.session.get(LAST_ACTIVITY_KEY)
        if last is not None and now - last > idle_limit:
            return self._expired(request, user, idle_seconds=int(now - last))
        if last is None or now - last >= REFRESH_SECONDS:
            request.session[LAST_ACTIVITY_KEY] = now
            # A copied cookie is refused here like its owner's; the row itself goes later.
            request.session.set_expiry(idle_limit + ROW_GRACE_SECONDS)
        with acting_as(officer_actor(user)):
            return self.get_response(request)

    def _expired(self, request, user, *, idle_seconds: int):
        with transaction.atomic():
            audit_event(by=user, action="staff.session_expired", target=user,
                        details={"idle_seconds": idle_seconds})
        logout(request)
        messages.warning(request, f"{settings.STAFF_SESSION_IDLE_MINUTES}분 동안 사용하지 않아 "
                                  "로그아웃되었습니다. 다시 로그인하세요.")
        login = reverse("admin:login")
        return HttpResponseRedirect(f"{login}?{urlencode({'next': request.get_full_path()})}")
