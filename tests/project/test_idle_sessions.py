"""A staff session unused for STAFF_SESSION_IDLE_MINUTES is ended; one in use goes on."""

from __future__ import annotations

import time

import pytest

from audit.models import AuditEvent
from officers.middleware import LAST_ACTIVITY_KEY
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


def _last_used(client, seconds_ago: float) -> None:
    session = client.session
    session[LAST_ACTIVITY_KEY] = time.time() - seconds_ago
    session.save()


def test_an_idle_session_is_refused_and_must_log_in_again(client, officer, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 30
    login_verified(client, officer)
    assert client.get("/admin/").status_code == 200
    _last_used(client, 31 * 60)

    response = client.get("/admin/governance/transferplan/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=%2Fadmin%2Fgovernance%2Ftransferplan%2F"
    assert client.get("/admin/").status_code == 302  # logged out, not just redirected once
    event = AuditEvent.objects.get(action="staff.session_expired")
    assert event.actor_id == f"user:{officer.pk}" and event.details["idle_seconds"] >= 31 * 60


def test_a_session_in_use_stays_open(client, officer, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 30
    login_verified(client, officer)
    _last_used(client, 29 * 60)

    assert client.get("/admin/").status_code == 200
    assert time.time() - client.session[LAST_ACTIVITY_KEY] < 5  # the clock starts again
    # The row outlives the limit, so the middleware (not the row's expiry) ends it, and
    # says why; it does not outlive it by more than a working day.
    assert 30 * 60 < client.session.get_expiry_age() <= 30 * 60 + 12 * 3600


def test_the_limit_is_configurable(client, officer, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 5
    login_verified(client, officer)
    client.get("/admin/")
    _last_used(client, 6 * 60)
    assert client.get("/admin/").status_code == 302


def test_the_officer_is_told_why_on_the_login_page(client, officer, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 30
    login_verified(client, officer)
    client.get("/admin/")
    _last_used(client, 45 * 60)

    page = client.get("/admin/consent/consentrequest/", follow=True)

    assert page.request["PATH_INFO"] == "/admin/login/"
    assert "30분 동안 사용하지 않아 로그아웃되었습니다" in page.content.decode()
