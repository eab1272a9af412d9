"""The two staff roles of the admin, as Django groups.

- "privacy officer": works the governance, consent and transfer screens; reads the audit trail.
- "commission reviewer" (PIPC): may view everything and change nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

PRIVACY_OFFICER = "privacy officer"
COMMISSION_REVIEWER = "commission reviewer"
# Deny by default: staff accounts, OAuth applications and tokens, and the periodic-task
# schedule (which runs the audit sealer and the deletion search) are the site
# administrator's (a superuser), not an officer's.
OFFICER_APPS = ("governance", "consent", "transfers")
VIEWABLE_APPS = ("audit", "governance", "consent", "transfers", "operations")


def ensure_role_groups() -> None:
    """Create or refresh both groups; safe to call after every migrate."""
    view_perms = Permission.objects.filter(
        content_type__app_label__in=VIEWABLE_APPS, codename__startswith="view_"
    )
    officer_perms = Permission.objects.filter(content_type__app_label__in=OFFICER_APPS)
    reviewer, _ = Group.objects.get_or_create(name=COMMISSION_REVIEWER)
    reviewer.permissions.set(view_perms)
    officer, _ = Group.objects.get_or_create(name=PRIVACY_OFFICER)
    officer.permissions.set(list(officer_perms) + list(view_perms))
