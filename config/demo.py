"""Demo staff accounts: two privacy officers (for the two-person rule), a PIPC reviewer, and a
site administrator.

Only the administrator is a superuser (staff accounts, OAuth applications). The officers work
with their group's permissions alone, as they would in production: they see the governance,
consent and transfer screens and the audit trail, not the accounts or the OAuth tokens.

Passwords are generated on first run and kept in var/demo-credentials.json (ignored by git).
Each account also gets its second factor enrolled (an authenticator secret and recovery
codes), so `make run` can print everything a newcomer needs (`demo_login_hint`): one
account per person, as in production, never a shared login.
"""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.roles import COMMISSION_REVIEWER, PRIVACY_OFFICER, ensure_role_groups
from officers.second_factor import recovery_codes_issue

DEMO_STAFF = [
    # username, group (None: none), superuser
    ("officer", PRIVACY_OFFICER, False),
    ("officer2", PRIVACY_OFFICER, False),
    ("pipc", COMMISSION_REVIEWER, False),
    ("admin", None, True),
]


def load(stdout=None) -> str:
    ensure_role_groups()
    credentials = _stored_credentials()
    User = get_user_model()
    for username, group_name, superuser in DEMO_STAFF:
        user, created = User.objects.get_or_create(username=username)
        # Set on every run: a demo database from before this list changed gets the new roles.
        user.is_staff, user.is_superuser = True, superuser
        if created or username not in credentials:
            credentials[username] = secrets.token_urlsafe(12)
            user.set_password(credentials[username])
        user.save()
        if group_name:
            user.groups.add(Group.objects.get(name=group_name))
        _second_factor_enrolled(user)
    _store_credentials(credentials)
    return "staff: " + ", ".join(f"{u} / {credentials[u]}" for u, _, _ in DEMO_STAFF)


def _second_factor_enrolled(user) -> None:
    """What the officer does on a first login, done ahead for the demo: a confirmed
    authenticator and a set of recovery codes (printed by `demo_login_hint`)."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(user=user, name="demo authenticator", confirmed=True)
        recovery_codes_issue(user=user)


def credentials_file():
    return settings.VAR_DIR / "demo-credentials.json"


def _stored_credentials() -> dict[str, str]:
    path = credentials_file()
    return json.loads(path.read_text()) if path.exists() else {}


def _store_credentials(credentials: dict[str, str]) -> None:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
