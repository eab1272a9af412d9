"""After a wrong code django-otp makes the device wait (1, 2, 4 ... s) and refuses even the
right code meanwhile: the page says how long to wait instead of calling the right code
wrong, and such a try, never checked, does not count towards the lock-out."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from officers.second_factor import recovery_codes_issue
from tests.project.otp_helpers import code_for, password_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def enrolled(officer):
    device = TOTPDevice.objects.create(user=officer, name="authenticator", confirmed=True)
    return device, recovery_codes_issue(user=officer)


def _failures(officer) -> int:
    return sum(AccessAttempt.objects.filter(username=officer.username)
               .values_list("failures_since_start", flat=True))


def test_the_right_code_just_after_a_wrong_one_is_asked_again_after_the_wait(
        client, officer, enrolled):
    device, _ = enrolled
    password_login(client, officer.username)
    client.post("/admin/second-factor/?next=/admin/", {"code": "000000"})
    assert _failures(officer) == 1

    too_soon = client.post("/admin/second-factor/?next=/admin/", {"code": code_for(device)})

    assert too_soon.status_code == 400
    assert "1초 뒤에" in too_soon.content.decode()
    assert _failures(officer) == 1  # not checked, not counted
    assert AuditEvent.objects.filter(action="staff.second_factor_failed").count() == 1
    device.refresh_from_db()
    device.throttling_failure_timestamp -= dt.timedelta(seconds=2)  # the officer waited
    device.save()
    accepted = client.post("/admin/second-factor/?next=/admin/", {"code": code_for(device)})
    assert accepted.status_code == 302 and accepted["Location"] == "/admin/"


def test_a_recovery_code_login_says_how_many_are_left(client, officer, enrolled):
    _, codes = enrolled
    password_login(client, officer.username)

    page = client.post("/admin/second-factor/?next=/admin/", {"code": codes[0]}, follow=True)

    assert page.status_code == 200
    assert "남은 복구 코드 9개" in page.content.decode()


def test_a_used_recovery_code_is_named_as_such(client, officer, enrolled, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    _, codes = enrolled
    password_login(client, officer.username)
    client.post("/admin/second-factor/", {"code": codes[0]})
    client.logout()
    password_login(client, officer.username)

    again = client.post("/admin/second-factor/", {"code": codes[0]})

    assert again.status_code == 400
    assert "이미 쓴 코드" in again.content.decode()
