"""The admin site of the officers: no page without a verified second factor.

The login is two steps. Django's password form first (axes counts the failures); then
`/admin/second-factor/`: a code from the authenticator app or a recovery code, or, on the
first login, the enrolment of the app. Until the second step the session is logged in but
not verified, and `has_permission` answers no to every admin page, the dashboard included.
"""

from __future__ import annotations

import segno
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from axes.utils import reset as axes_reset
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from officers.access import client_address
from officers.second_factor import (
    is_totp_code,
    recovery_codes_left,
    second_factor_verify,
    second_factor_wait,
    totp_confirmed,
    totp_enrol,
    totp_pending,
)


def is_verified(user) -> bool:
    """Whether a second factor verified this session (django-otp's OTPMiddleware)."""
    return getattr(user, "otp_device", None) is not None


class OfficerAdminSite(admin.AdminSite):
    site_header = "개인정보 이전 중개 서비스 관리"
    site_title = "Consent broker"
    index_title = "관리"

    def has_permission(self, request) -> bool:
        return super().has_permission(request) and is_verified(request.user)

    def login(self, request, extra_context=None):
        if request.method == "GET" and _password_done(request):
            return HttpResponseRedirect(self._second_factor_url(request))
        response = super().login(request, extra_context)
        if request.method == "POST" and _password_done(request):
            return HttpResponseRedirect(self._second_factor_url(request))
        return response

    def get_urls(self):
        return [path("second-factor/", csrf_protect(never_cache(self.second_factor)),
                     name="second_factor"), *super().get_urls()]

    def _second_factor_url(self, request) -> str:
        target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
        url = reverse("admin:second_factor", current_app=self.name)
        return f"{url}?{urlencode({REDIRECT_FIELD_NAME: _safe_next(request, target)})}"

    def second_factor(self, request: HttpRequest):
        """Enrol the authenticator (first login) or check a code; then on to ``next``."""
        if request.method == "POST" and "cancel" in request.POST:
            logout(request)  # another account, or not now: the admin's logout needs a login
            return HttpResponseRedirect(reverse("admin:login", current_app=self.name))
        if not _password_done(request):
            if is_verified(request.user):
                return HttpResponseRedirect(_safe_next(request, request.GET.get("next")))
            return HttpResponseRedirect(reverse("admin:login", current_app=self.name))
        user, address = request.user, client_address(request)
        credentials = {"username": user.get_username()}
        if AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            return get_lockout_response(request, credentials=credentials)
        target = _safe_next(request, request.GET.get(REDIRECT_FIELD_NAME))
        enrolled = totp_confirmed(user) is not None
        code = request.POST.get("code", "") if request.method == "POST" else ""
        error = ""
        wait = second_factor_wait(user=user, code=code) if code else 0
        if wait:
            # Not a failure: the code was not checked (django-otp's wait after a wrong one).
            error = (f"코드를 틀린 직후라 {wait}초 동안은 확인할 수 없습니다. {wait}초 뒤에 "
                     "앱에 표시된 최신 코드를 다시 입력하세요.")
        elif code and enrolled:
            device = second_factor_verify(user=user, code=code, address=address)
            if device is not None:
                if isinstance(device, StaticDevice):
                    self._recovery_code_used(request, user)
                return self._verified(request, device, target)
        elif code:
            enrolment = totp_enrol(user=user, code=code, address=address)
            if enrolment is not None:
                self._verified(request, enrolment.device, target)
                return TemplateResponse(request, "officers/recovery_codes.html", {
                    **self.each_context(request), "title": "복구 코드 (recovery codes)",
                    "codes": enrolment.recovery_codes, "next": target})
        if request.method == "POST" and not wait:
            # A wrong code counts towards the account's lock-out like a wrong password.
            user_login_failed.send(sender=type(self), credentials=credentials, request=request)
            if AxesProxyHandler.is_locked(request, credentials):
                logout(request)
                return get_lockout_response(request, credentials=credentials)
            error = _wrong_code_message(code, enrolled=enrolled)
        context = {**self.each_context(request), "error": error, "next": target,
                   "title": "2단계 인증 (second factor)", "enrolled": enrolled}
        if not enrolled:
            device = totp_pending(user)
            uri = device.config_url
            context.update({"title": "2단계 인증 등록 (enrol a second factor)",
                            "otpauth_uri": uri, "secret": _secret_of(uri),
                            "qr_svg": mark_safe(segno.make(uri).svg_inline(scale=4))})  # noqa: S308
        return TemplateResponse(request, "officers/second_factor.html", context,
                                status=400 if error else 200)

    def _recovery_code_used(self, request, user) -> None:
        left = recovery_codes_left(user)
        messages.warning(request, f"복구 코드로 로그인했습니다 (남은 복구 코드 {left}개). "
                                  "휴대전화를 찾지 못했다면 시스템 관리자에게 인증 앱 재등록을 "
                                  "요청하세요: 다음 로그인에서 새로 등록합니다.")

    def _verified(self, request, device, target: str):
        request.session.cycle_key()  # a new session id for the verified session
        otp_login(request, device)
        # The whole login succeeded: the failures counted against the account start again.
        axes_reset(username=request.user.get_username())
        return HttpResponseRedirect(target)


def _wrong_code_message(code: str, *, enrolled: bool) -> str:
    if enrolled and not is_totp_code(code):
        return "복구 코드가 맞지 않거나 이미 쓴 코드입니다. 복구 코드는 한 번만 쓸 수 있습니다."
    return "코드가 맞지 않습니다. 앱에 표시된 최신 6자리 코드를 입력하세요."


def _password_done(request) -> bool:
    """Logged in with the password, second factor still owed."""
    user = request.user
    return (user.is_authenticated and user.is_active and user.is_staff
            and not is_verified(user))


def _safe_next(request, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _secret_of(uri: str) -> str:
    """The base32 secret of an otpauth:// URI, in groups of four for typing by hand."""
    secret = uri.split("secret=", 1)[1].split("&", 1)[0]
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
