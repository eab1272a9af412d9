"""The staff roles: privacy officers and the commission's reviewer get only what their work
needs; accounts, OAuth and the task schedule stay with the site administrator."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from config.demo import credentials_file
from config.roles import COMMISSION_REVIEWER, PRIVACY_OFFICER, ensure_role_groups
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


def _apps_of(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return set(group.permissions.values_list("content_type__app_label", flat=True))


def test_officers_hold_no_permission_on_accounts_oauth_or_the_task_schedule():
    ensure_role_groups()
    apps = _apps_of(PRIVACY_OFFICER)
    assert {"governance", "consent", "transfers", "audit", "operations", "officers"} <= apps
    # The administrator's: accounts, OAuth clients, the task schedule, lock-outs, devices.
    assert not apps & {"auth", "oauth2_provider", "django_celery_beat", "axes", "otp_totp",
                       "otp_static", "admin", "sessions", "contenttypes"}
    audit = Group.objects.get(name=PRIVACY_OFFICER).permissions.filter(
        content_type__app_label__in=("audit", "operations"))
    assert {p.codename.split("_")[0] for p in audit} == {"view"}


def test_the_reviewer_may_only_view():
    ensure_role_groups()
    codenames = Group.objects.get(name=COMMISSION_REVIEWER).permissions.values_list(
        "codename", flat=True)
    assert codenames and all(c.startswith("view_") for c in codenames)


def test_in_the_demo_only_the_administrator_is_a_superuser(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    call_command("demo")
    users = get_user_model().objects
    assert list(users.filter(is_superuser=True).values_list("username", flat=True)) == ["admin"]
    passwords = json.loads(credentials_file().read_text())
    assert set(passwords) == {"officer", "officer2", "pipc", "admin"}
    demo_officer = users.get(username="officer")
    assert demo_officer.check_password(passwords["officer"])
    officer = login_verified(Client(), demo_officer)
    assert officer.get("/admin/governance/transferplan/").status_code == 200
    for url in ("/admin/auth/user/", "/admin/oauth2_provider/accesstoken/",
                "/admin/django_celery_beat/periodictask/"):
        assert officer.get(url).status_code == 403, url
