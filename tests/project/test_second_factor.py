"""Every staff login needs a second factor: enrolment on the first login, a TOTP code (or a
single-use recovery code) on each one after; the password alone opens no admin page."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.project.otp_helpers import code_for, password_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_retry_delay(settings):
    """django-otp makes each wrong code wait 1, 2, 4... s before the next try; here the next
    try comes at once (the lock-out after five failures is axes', tested on its own)."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def _enrol(client, officer) -> list[str]:
    password_login(client, officer.username)
    page = client.get("/admin/second-factor/?next=/admin/")
    assert "처음 로그인하셨습니다" in page.content.decode()
    device = TOTPDevice.objects.get(user=officer, confirmed=False)
    done = client.post("/admin/second-factor/?next=/admin/", {"code": code_for(device)})
    assert done.status_code == 200
    return [c.strip() for c in done.context["codes"]]


def test_the_password_alone_opens_no_admin_page(client, officer):
    response = password_login(client, officer.username)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/second-factor/")
    for url in ("/admin/", "/admin/governance/transferplan/", "/admin/dashboard/"):
        page = client.get(url)
        assert page.status_code == 302 and "/admin/login/" in page["Location"], url


def test_the_first_login_enrols_an_authenticator_and_shows_recovery_codes(client, officer):
    password_login(client, officer.username)
    page = client.get("/admin/second-factor/?next=/admin/").content.decode()
    assert "otpauth://totp/" in page and "<svg" in page and 'id="otp-secret"' in page
    device = TOTPDevice.objects.get(user=officer, confirmed=False)

    wrong = client.post("/admin/second-factor/?next=/admin/", {"code": "000000"})
    assert wrong.status_code == 400 and "코드가 맞지 않습니다" in wrong.content.decode()
    done = client.post("/admin/second-factor/?next=/admin/", {"code": code_for(device)})

    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    assert client.get("/admin/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    event = AuditEvent.objects.get(action="staff.second_factor_enrolled")
    assert event.actor_id == f"user:{officer.pk}" and event.details["recovery_codes"] == 10


def test_after_enrolment_a_login_needs_the_current_code(client, officer):
    _enrol(client, officer)
    client.logout()
    device = TOTPDevice.objects.get(user=officer, confirmed=True)

    password_login(client, officer.username)
    refused = client.post("/admin/second-factor/?next=/admin/", {"code": "123456"})
    assert refused.status_code == 400
    assert client.get("/admin/").status_code == 302
    accepted = client.post("/admin/second-factor/?next=/admin/",
                           {"code": code_for(device, steps_ahead=1)})

    assert accepted.status_code == 302 and accepted["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="staff.second_factor_failed").count() == 1
    assert AuditEvent.objects.filter(action="staff.logged_in",
                                     actor_id=f"user:{officer.pk}").count() == 1


def test_a_recovery_code_logs_in_once(client, officer):
    codes = _enrol(client, officer)
    client.logout()

    password_login(client, officer.username)
    first = client.post("/admin/second-factor/", {"code": codes[0]})
    assert first.status_code == 302 and client.get("/admin/").status_code == 200
    client.logout()
    password_login(client, officer.username)
    again = client.post("/admin/second-factor/", {"code": codes[0]})

    assert again.status_code == 400
    assert client.get("/admin/").status_code == 302
