"""Fixtures of the Art. 27 notice by SMS: import them into a test module with
``from tests.consent.notice_fixtures import *  # noqa: F403`` (next to sms_fixtures).

- ``users``: KEPF's certificate users, each with its own synthetic mobile number (a factory:
  ``users(5)``; U-000001 has 010-0000-5001, as in the demo).
- ``notice_campaign_for``: a draft user campaign about the plan's Art. 27 items only (it
  carries the notice), no quiet hours, ready to launch.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.seoul import synthetic_phone

__all__ = ["users", "notice_campaign_for", "NOTICE_ITEMS", "launched", "admin_login"]

NOTICE_ITEMS = ["user.phone", "user.name", "user.certificate_balance"]


@pytest.fixture
def users(db, outgoing_operator):
    """``users(n, start=1, phone=True)`` -> n user DataSubjects (U-000001 ...)."""
    from governance.models import DataSubject
    from governance.services import subjects_upsert

    def make(n: int, *, start: int = 1, phone: bool = True) -> list:
        rows = []
        for i in range(start, start + n):
            row = {"external_id": f"U-{i:06d}"}
            if phone:
                row["phone"] = synthetic_phone(5000 + i)
            rows.append(row)
        result = subjects_upsert(operator=outgoing_operator.operator, kind="user", rows=rows,
                                 by=None)
        return list(DataSubject.objects.filter(pk__in=result.ids.values()).order_by("id"))
    return make


@pytest.fixture
def notice_campaign_for(approved_plan, officer):
    """``notice_campaign_for(**overrides)`` -> a draft campaign sending users the notice."""
    from consent.services.campaigns import campaign_create

    def make(**values):
        values.setdefault("expires_at", timezone.now() + dt.timedelta(days=14))
        values.setdefault("quiet_from_hour", 0)
        values.setdefault("quiet_until_hour", 0)
        values.setdefault("items", NOTICE_ITEMS)
        return campaign_create(plan=values.pop("plan", approved_plan), name="이용자 이전 고지",
                               by=officer, subject_kind="user", **values)
    return make


def launched(campaign, capture):
    """Launch ``campaign`` and run what its commit queues (the in-process sending loop)."""
    from consent.services.campaigns import campaign_launch

    with capture(execute=True):
        campaign_launch(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def admin_login(client, user):
    """Log ``user`` into the admin as after a real login (password and second factor)."""
    from tests.staff import login_verified

    return login_verified(client, user)
