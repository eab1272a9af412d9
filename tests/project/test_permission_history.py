"""Changes to staff accounts, groups and permissions are audit events: who granted what to
whom (the admin's own forms included), and when."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from audit.models import AuditEvent
from config.roles import PRIVACY_OFFICER, ensure_role_groups
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def administrator(django_user_model):
    user = django_user_model.objects.create_superuser("site-admin", password="x" * 16)
    return user, login_verified(Client(), user)


def test_adding_an_account_to_a_group_in_the_admin_names_who_did_it(administrator,
                                                                     django_user_model):
    admin_user, admin_client = administrator
    ensure_role_groups()
    new = django_user_model.objects.create_user("officer-choi", password="y" * 16)
    group = Group.objects.get(name=PRIVACY_OFFICER)

    response = admin_client.post(f"/admin/auth/user/{new.pk}/change/", {
        "username": "officer-choi", "is_active": "on", "is_staff": "on",
        "groups": [group.pk], "date_joined_0": "2026-11-02", "date_joined_1": "09:00:00",
        "initial-date_joined_0": "2026-11-02", "initial-date_joined_1": "09:00:00"})

    assert response.status_code == 302, response.content.decode()[:2000]
    granted = AuditEvent.objects.get(action="staff.groups_changed")
    assert granted.actor_id == f"user:{admin_user.pk}"
    assert (granted.target_type, granted.target_id) == ("auth.user", str(new.pk))
    assert granted.details == {
        "added": [PRIVACY_OFFICER]}
    flags = AuditEvent.objects.get(action="staff.account_changed", target_type="auth.user",
                                   target_id=str(new.pk))
    assert flags.details == {"is_staff": True} and flags.actor_id == f"user:{admin_user.pk}"


def test_permissions_given_to_a_group_or_an_account_are_recorded(django_user_model):
    group = Group.objects.create(name="call centre")
    user = django_user_model.objects.create_user("agent-han", password="y" * 16)
    perm = Permission.objects.get(codename="view_datasubject")

    group.permissions.add(perm)
    user.user_permissions.add(perm)
    user.user_permissions.clear()

    assert AuditEvent.objects.get(action="staff.group_created").details == {
        "group": "call centre"}
    assert AuditEvent.objects.get(action="staff.group_permissions_changed").details == {
        "added": ["governance.view_datasubject"]}
    changes = AuditEvent.objects.filter(action="staff.permissions_changed").order_by("id")
    assert [e.details for e in changes] == [{"added": ["governance.view_datasubject"]},
                                           {"removed": ["governance.view_datasubject"]}]
    assert all(e.actor_id == "system:console" for e in changes)  # no request: a shell


def test_a_new_account_and_a_password_change_are_recorded(django_user_model):
    user = django_user_model.objects.create_user("officer-yoon", password="y" * 16,
                                                 is_staff=True)
    user.set_password("z" * 16)
    user.save()

    created = AuditEvent.objects.get(action="staff.account_created")
    assert created.details == {"is_active": True, "is_staff": True, "is_superuser": False}
    assert AuditEvent.objects.get(action="staff.account_changed").details == {
        "password_changed": True}


def test_a_login_is_not_a_permission_change(client, officer):
    from tests.project.otp_helpers import password_login

    before = AuditEvent.objects.filter(action__startswith="staff.account").count()
    password_login(client, officer.username)
    assert AuditEvent.objects.filter(action__startswith="staff.account").count() == before


def test_removing_an_accounts_second_factor_is_recorded(administrator, officer):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    admin_user, admin_client = administrator
    device = TOTPDevice.objects.create(user=officer, name="app", confirmed=True)

    response = admin_client.post(
        f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and not TOTPDevice.objects.filter(user=officer).exists()
    [removed] = AuditEvent.objects.filter(action="staff.second_factor_removed")
    assert (removed.actor_id, removed.target_type, removed.target_id, removed.details) == (
        f"user:{admin_user.pk}", "auth.user", str(officer.pk), {"device": "totp"})
