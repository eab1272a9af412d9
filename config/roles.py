"""The two staff roles of the admin, as Django groups.

- "privacy officer": works the governance, consent and transfer screens; reads the audit trail;
  reviews and signs off the monthly access review (officers).
- "commission reviewer" (PIPC): may view everything and change nothing.

One account per person: a shared login would make every access entry, lock-out and
permission change name a role instead of the person who acted, which the safeguards
standard's access log (Art. 8) and least-privilege rule (Art. 5) cannot accept.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from officers.permission_history import permission_history_paused

PRIVACY_OFFICER = "privacy officer"
COMMISSION_REVIEWER = "commission reviewer"
# Deny by default: staff accounts, OAuth applications and tokens, the periodic-task schedule
# (which runs the audit sealer and the deletion search), login lock-outs and second-factor
# devices are the site administrator's (a superuser), not an officer's.
OFFICER_APPS = ("governance", "consent", "transfers", "settlement", "officers")
VIEWABLE_APPS = ("audit", "officers", "governance", "consent", "transfers", "settlement",
                 "operations")


def ensure_role_groups() -> None:
    """Create or refresh both groups; safe to call after every migrate.

    The groups are defined here, in code reviewed in version control, and re-applied after
    every migrate (once per app, as each app's permissions appear), so re-applying them is
    not a permission-history event; every change a person makes (the admin's user and group
    pages, a shell, a command) is (officers.permission_history).
    """
    view_perms = list(Permission.objects.filter(
        content_type__app_label__in=VIEWABLE_APPS, codename__startswith="view_"))
    officer_perms = list(Permission.objects.filter(content_type__app_label__in=OFFICER_APPS))
    with transaction.atomic(), permission_history_paused():
        reviewer, _ = Group.objects.get_or_create(name=COMMISSION_REVIEWER)
        reviewer.permissions.set(view_perms)
        officer, _ = Group.objects.get_or_create(name=PRIVACY_OFFICER)
        officer.permissions.set(officer_perms + view_perms)
