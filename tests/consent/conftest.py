"""Fixtures of the merchant's page: campaigns and requests built directly from the models
(plus `link_issue`), so these tests do not depend on the campaign services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.seoul import synthetic_brn, synthetic_phone

MERCHANT_BRN = synthetic_brn(1)      # the `merchant` fixture's business number
USER_PHONE_LAST4 = synthetic_phone(2)[-4:]  # the `user` fixture's phone, last four digits


def _campaign(plan, kind: str, **values):
    from consent.models import Campaign
    from governance.models import FieldRule

    items = list(FieldRule.objects.filter(plan=plan, field__subject_kind=kind,
                                          basis__in=(FieldRule.Basis.CONSENT,
                                                     FieldRule.Basis.NOTICE_OPT_OUT))
                 .values_list("field__key", flat=True))
    values.setdefault("expires_at", timezone.now() + dt.timedelta(days=14))
    return Campaign.objects.create(plan=plan, name=f"{kind} campaign", subject_kind=kind,
                                   items=items, status=Campaign.Status.RUNNING, **values)


def make_request(campaign, subject, *, expires_in=dt.timedelta(days=14), **values):
    from consent.models import ConsentRequest

    return ConsentRequest.objects.create(campaign=campaign, subject=subject,
                                         expires_at=timezone.now() + expires_in,
                                         status=values.pop("status", ConsentRequest.Status.SENT),
                                         **values)


@pytest.fixture
def merchant_campaign(approved_plan):
    """A running campaign asking KEPF's merchants about the plan's consent items."""
    return _campaign(approved_plan, "merchant")


@pytest.fixture
def user_campaign(approved_plan):
    """A running campaign sending users the Art. 27 notice (and the users' consent items)."""
    return _campaign(approved_plan, "user")


@pytest.fixture
def merchant_request(merchant_campaign, merchant):
    """The merchant's open request, sent by SMS, expiring in two weeks."""
    return make_request(merchant_campaign, merchant)


@pytest.fixture
def user_request(user_campaign, user):
    return make_request(user_campaign, user)


@pytest.fixture
def merchant_link(merchant_request):
    """A live link for the merchant's request: ``.token`` (what the SMS carries), ``.url``."""
    from consent.tokens import link_issue

    return link_issue(request=merchant_request)


@pytest.fixture
def user_link(user_request):
    from consent.tokens import link_issue

    return link_issue(request=user_request)


@pytest.fixture(autouse=True)
def _empty_rate_limits():
    """Rate-limit counters live in the cache, and the page caches plans and notices per
    process (by primary key, which the next test's database may reuse): start with none."""
    from django.core.cache import cache

    from core.cache import clear_all

    for clear in (cache.clear, clear_all):
        clear()
    yield
    for clear in (cache.clear, clear_all):
        clear()
