"""The unreached-users export (consent admin) writes exactly one access entry: who exported
whom, from where, with the typed reason; never the numbers themselves."""

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from consent.models import SmsMessage
from consent.services.sending import sms_status_update
from tests.consent.notice_fixtures import *  # noqa: F403
from tests.consent.sms_fixtures import *  # noqa: F403


@pytest.fixture
def unreached(users, notice_campaign_for, standin, django_capture_on_commit_callbacks):
    reached, missed = users(2)
    launched(notice_campaign_for(reminder_count=0),  # noqa: F405
             django_capture_on_commit_callbacks)
    for subject, status in ((reached, "delivered"), (missed, "undelivered")):
        msg = SmsMessage.objects.get(request__subject=subject)
        sms_status_update(provider_sid=msg.provider_sid, provider_status=status,
                          error_code="30003" if status == "undelivered" else "")
    return missed


def test_the_unreached_export_writes_one_access_entry_with_its_reason(
        client, officer, unreached, approved_plan):
    admin_login(client, officer)  # noqa: F405

    response = client.post(reverse("admin:consent_consentrequest_unreached_export"), {
        "plan": approved_plan.pk, "reason": "우편 대체 고지 발송 (공문 2026-118)",
        "with_phone": "on"})

    assert response["Content-Type"].startswith("text/csv")
    [entry] = AuditEvent.objects.filter(action__startswith="access.")
    assert (entry.action, entry.actor_id, entry.target_type, entry.target_id) == (
        "access.download", f"user:{officer.pk}", "governance.transferplan", str(approved_plan.pk))
    assert entry.details["subjects"] == [unreached.public_id]
    assert entry.details["reason"] == "우편 대체 고지 발송 (공문 2026-118)"
    assert "subject.phone" in entry.details["fields"] and entry.details["with_phone"]
    assert unreached.phone not in json.dumps(entry.details)


def test_without_a_reason_nothing_is_exported_or_logged(client, officer, unreached,
                                                        approved_plan):
    admin_login(client, officer)  # noqa: F405
    response = client.post(reverse("admin:consent_consentrequest_unreached_export"),
                           {"plan": approved_plan.pk, "reason": " "})
    assert not response["Content-Type"].startswith("text/csv")
    assert not AuditEvent.objects.filter(action__startswith="access.").exists()
