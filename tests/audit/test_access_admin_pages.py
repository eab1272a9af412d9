"""Every admin page that shows one subject's consent history, messages, replies or deletion
requests writes exactly one access entry per page view (officers.access_admin): the
account, the subjects by public id, the field keys; never a value."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tests.consent.conftest import make_request
from tests.consent.notice_fixtures import *  # noqa: F403
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


def _access_entries():
    return list(AuditEvent.objects.filter(action__startswith="access.").order_by("id"))


@pytest.fixture
def consent_request(users, notice_campaign_for, approved_plan):
    from governance.models import TransferPlan

    TransferPlan.objects.filter(pk=approved_plan.pk).update(
        approved_at=timezone.now() - dt.timedelta(days=1))
    (user,) = users(1)
    campaign = notice_campaign_for()
    campaign.status = "running"
    campaign.save(update_fields=["status"])
    return make_request(campaign, user, status="failed")


@pytest.mark.parametrize("page", ["changelist", "change"])
def test_a_consent_request_page_logs_its_subject(client, officer, consent_request, page):
    login_verified(client, officer)
    url = (reverse("admin:consent_consentrequest_changelist") if page == "changelist" else
           reverse("admin:consent_consentrequest_change", args=[consent_request.pk]))

    assert client.get(url).status_code == 200

    [entry] = _access_entries()
    assert (entry.action, entry.actor_id, entry.target_type) == (
        "access.view", f"user:{officer.pk}", "consent.consentrequest")
    assert entry.details["subjects"] == [consent_request.subject.public_id]
    assert "consent_request.status" in entry.details["fields"]


def test_the_phone_notice_form_logs_the_view_and_the_recorded_call(client, officer,
                                                                   consent_request):
    login_verified(client, officer)
    url = reverse("admin:consent_consentrequest_phone_notice", args=[consent_request.pk])
    client.get(url)
    called = (timezone.localtime() - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")

    response = client.post(url, {"called_at": called,
                                 "reason": "문자 미도달, 콜센터에서 고지 (통화 2026-0042)"})

    assert response.status_code == 302
    assert [(e.action, e.details["subjects"]) for e in _access_entries()] == [
        ("access.view", [consent_request.subject.public_id]),
        ("access.input", [consent_request.subject.public_id])]


def test_an_sms_message_page_logs_its_subject(client, officer, consent_request):
    from consent.models import SmsMessage

    message = SmsMessage.objects.create(request=consent_request, purpose="initial",
                                        body_redacted="[서울사랑상품권] 안내 https://…/****")
    login_verified(client, officer)

    client.get(reverse("admin:consent_smsmessage_change", args=[message.pk]))

    [entry] = _access_entries()
    assert (entry.action, entry.target_type, entry.details["subjects"]) == (
        "access.view", "consent.smsmessage", [consent_request.subject.public_id])


@pytest.fixture
def reply(consent_request):
    from consent.models import InboundSms
    from governance.crypto import blind_index, normalize_mobile

    phone = consent_request.subject.phone
    return InboundSms.objects.create(
        provider_sid="SM-test-1", from_phone=phone,
        from_phone_index=blind_index("phone:" + normalize_mobile(phone)),
        body="네 동의합니다", outcome=InboundSms.Outcome.NEEDS_REVIEW, request=consent_request)


def test_a_reply_and_its_review_page_log_whom_they_concern(client, officer, reply,
                                                           consent_request):
    login_verified(client, officer)

    client.get(reverse("admin:consent_inboundsms_change", args=[reply.pk]))
    client.get(reverse("admin:consent_inboundsms_resolve", args=[reply.pk]))

    view, review = _access_entries()
    subject = consent_request.subject.public_id
    assert (view.target_type, view.details["subjects"]) == ("consent.inboundsms", [subject])
    assert review.details["subjects"] == [subject] and review.details["page"] == "resolve"
    for entry in (view, review):
        assert "sms_reply.body" in entry.details["fields"]
        assert "동의합니다" not in json.dumps(entry.details, ensure_ascii=False)
        assert consent_request.subject.phone not in json.dumps(entry.details)


def test_a_consent_record_page_logs_its_subject(client, officer, consent_request):
    from consent.models import ConsentRecord

    record = ConsentRecord.objects.create(
        plan=consent_request.campaign.plan, subject=consent_request.subject,
        request=consent_request, action="answer", channel="phone", officer=officer,
        reason="콜센터 통화 (통화 2026-0042)")
    login_verified(client, officer)

    client.get(reverse("admin:consent_consentrecord_changelist"))

    [entry] = _access_entries()
    assert (entry.action, entry.target_type, entry.details["subjects"]) == (
        "access.view", "consent.consentrecord", [consent_request.subject.public_id])
    assert record.reason not in json.dumps(entry.details, ensure_ascii=False)


def test_a_deletion_request_page_logs_its_subject(client, officer, approved_plan, user):
    from transfers.models import DeletionNotice

    notice = DeletionNotice.objects.create(
        plan=approved_plan, recipient=approved_plan.to_operator, subject=user,
        fields=["user.phone"], reason="withdrawn", state_updated_at=timezone.now())
    login_verified(client, officer)

    client.get(reverse("admin:transfers_deletionnotice_changelist"))
    client.get(reverse("admin:transfers_deletionnotice_change", args=[notice.pk]))

    listed, opened = _access_entries()
    assert listed.details["subjects"] == opened.details["subjects"] == [user.public_id]
    assert opened.target_type == "transfers.deletionnotice" and opened.target_id == str(notice.pk)


def test_a_staff_member_without_a_role_opens_no_consent_history_and_nothing_is_logged(
        client, clerk, consent_request):
    """Choi logs in with both factors but holds neither role: a subject's consent request,
    messages and phone notice form are refused without naming the subject, and no access
    entry is written."""
    login_verified(client, clerk)
    subject = consent_request.subject

    responses = [
        client.get(reverse("admin:consent_consentrequest_changelist")),
        client.get(reverse("admin:consent_consentrequest_change", args=[consent_request.pk])),
        client.get(reverse("admin:consent_consentrequest_phone_notice",
                           args=[consent_request.pk])),
        client.get(reverse("admin:consent_smsmessage_changelist")),
    ]

    for response in responses:
        assert response.status_code in (302, 403)
        body = response.content.decode()
        assert subject.public_id not in body and subject.external_id not in body
    assert _access_entries() == []
