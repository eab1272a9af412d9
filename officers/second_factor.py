"""The second factor of every staff account: a TOTP authenticator app (django-otp), and
single-use recovery codes (django-otp's static device) for a lost phone.

Enrolment happens on the first login: the password alone reaches only the enrolment page,
which shows the secret, and the device counts only once the officer has typed a code from
it. Every enrolment, verification failure and verified login is an audit event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import audit_event

TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]


def totp_confirmed(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def totp_pending(user) -> TOTPDevice:
    """The authenticator being enrolled: the same secret until it is confirmed, so reloading
    the page does not invalidate what the officer already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def _audit(user, action: str, address: str, **details) -> None:
    audit_event(by=user, action=action, target=user, details={"ip": address, **details})


def totp_enrol(*, user, code: str, address: str) -> Enrolment | None:
    """Confirm the pending authenticator with a first code, and issue recovery codes.

    None when the code is wrong (the pending device stays, so the officer may try again).
    Any earlier devices are replaced: one authenticator and one set of codes per account.
    """
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(
            user=user, confirmed=False).order_by("id").first()
        if device is None or not device.verify_token(_digits(code)):
            return None
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_issue(user=user)
        _audit(user, "staff.second_factor_enrolled", address, device="totp",
               recovery_codes=len(codes))
    return Enrolment(device=device, recovery_codes=codes)


def recovery_codes_issue(*, user) -> list[str]:
    """A fresh set of single-use recovery codes (the old ones stop working)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.STAFF_RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def is_totp_code(code: str) -> bool:
    """TOTP codes are 6 digits; recovery codes 8 letters and digits."""
    code = _clean(code)
    return code.isdigit() and len(code) <= 8


def _clean(code: str) -> str:
    return code.strip().replace(" ", "").lower()


def second_factor_wait(*, user, code: str) -> int:
    """Seconds before the device that would check ``code`` may check one again, or 0.

    django-otp makes a device wait 1, 2, 4, 8 ... seconds after each wrong code and refuses
    even the right one meanwhile; the page says so instead of calling a right code wrong,
    and such a try is not counted as a failure (the code was never checked).
    """
    code = _clean(code)
    if totp_confirmed(user) is None:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    elif is_totp_code(code):
        device = totp_confirmed(user)
    else:
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return 0
    allowed, data = device.verify_is_allowed()
    if allowed or not data or "locked_until" not in data:
        return 0
    return max(1, math.ceil((data["locked_until"] - timezone.now()).total_seconds()))


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def second_factor_verify(*, user, code: str, address: str):
    """The device that accepts ``code`` (a 6-digit TOTP code, or a recovery code, which is
    then used up), or None. Each outcome is an audit event."""
    code = _clean(code)
    with transaction.atomic():
        if is_totp_code(code):
            device = TOTPDevice.objects.select_for_update().filter(
                user=user, confirmed=True).order_by("id").first()
            kind = "totp"
        else:
            device = StaticDevice.objects.select_for_update().filter(
                user=user, confirmed=True).first()
            kind = "recovery_code"
        verified = device is not None and device.verify_token(code)
    with transaction.atomic():
        if verified:
            _audit(user, "staff.logged_in", address, factor=kind)
            return device
        _audit(user, "staff.second_factor_failed", address, factor=kind)
        return None


def _digits(code: str) -> str:
    return "".join(ch for ch in code if ch.isdigit())
