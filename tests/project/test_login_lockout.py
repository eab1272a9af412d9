"""Repeated failed logins lock the account, and the address, until the administrator
unlocks (django-axes); wrong second-factor codes count like wrong passwords."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.project.otp_helpers import code_for, password_login
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_retry_delay(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def _fail(client, username: str, times: int) -> None:
    """Wrong passwords: the form again each time, the lock-out page at the limit."""
    for _ in range(times):
        assert password_login(client, username, "wrong password!").status_code in (200, 429)


def _locked(response) -> bool:
    return response.status_code == 429 and "잠겼습니다" in response.content.decode()


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(client, officer):
    _fail(client, officer.username, 4)
    assert password_login(client, officer.username).status_code == 302  # 4 are not enough
    client.logout()
    _fail(client, officer.username, 5)

    response = password_login(client, officer.username)

    assert _locked(response)
    assert client.get("/admin/second-factor/").status_code == 302  # not logged in


def test_the_number_of_failures_is_configurable(client, officer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _fail(client, officer.username, 3)
    assert _locked(password_login(client, officer.username))


def test_five_failures_from_one_address_lock_that_address_for_every_account(
        client, officer, second_officer, django_user_model):
    for n in range(5):
        _fail(client, f"guess-{n}", 1)
    other_address = Client(REMOTE_ADDR="198.51.100.7")

    assert _locked(password_login(client, second_officer.username))
    assert password_login(other_address, second_officer.username).status_code == 302


def test_wrong_second_factor_codes_count_towards_the_lock_out(client, officer):
    TOTPDevice.objects.create(user=officer, name="app", confirmed=True)
    password_login(client, officer.username)
    for _ in range(4):
        assert client.post("/admin/second-factor/", {"code": "000000"}).status_code == 400

    fifth = client.post("/admin/second-factor/", {"code": "000000"})

    assert _locked(fifth)
    assert _locked(password_login(client, officer.username))


def test_the_administrator_unlocks_the_account_in_the_admin(client, officer, django_user_model):
    _fail(client, officer.username, 5)
    assert _locked(password_login(client, officer.username))
    administrator = django_user_model.objects.create_superuser("site-admin", password="x" * 16)
    admin_client = login_verified(Client(), administrator)
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))

    response = admin_client.post("/admin/axes/accessattempt/", {
        "action": "delete_selected", "_selected_action": attempts, "post": "yes"})

    assert response.status_code == 302 and not AccessAttempt.objects.exists()
    assert password_login(client, officer.username).status_code == 302
    assert "처음 로그인하셨습니다" in client.get("/admin/second-factor/").content.decode()
    device = TOTPDevice.objects.get(user=officer)  # enrolment, as on any first login
    assert client.post("/admin/second-factor/", {"code": code_for(device)}).status_code == 200
    assert client.get("/admin/").status_code == 200


def test_an_officer_cannot_unlock_anyone(officer):
    officer_client = login_verified(Client(), officer)
    assert officer_client.get("/admin/axes/accessattempt/").status_code == 403


def test_the_administrator_can_also_unlock_from_the_command_line(client, officer):
    _fail(client, officer.username, 5)
    call_command("axes_reset_username", officer.username)
    assert password_login(client, officer.username).status_code == 302
