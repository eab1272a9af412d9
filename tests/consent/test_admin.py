"""The consent admin: campaigns and their funnel, the review queue, consent taken by phone,
resending failed messages; read-only evidence; no number and no token on any page."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Campaign, ConsentRecord, ConsentRequest, InboundSms, SmsMessage
from consent.services.campaigns import campaign_launch
from consent.services.replies import sms_reply_receive
from governance.crypto import normalize_mobile
from tests.consent.sms_fixtures import *  # noqa: F403
from tests.staff import login_verified


@pytest.fixture
def kim(client, officer):
    login_verified(client, officer)
    return client


@pytest.fixture
def running(merchants, campaign_for, outbox, django_capture_on_commit_callbacks):
    subjects = merchants(3)
    campaign = campaign_for()
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign)
    return campaign, subjects


def _action(client, action, campaign):
    return client.post(reverse("admin:consent_campaign_changelist"),
                       {"action": action, "_selected_action": [campaign.pk]}, follow=True)


def test_an_officer_creates_a_campaign_through_the_service(kim, approved_plan, merchants,
                                                          officer):
    now = timezone.localtime()
    response = kim.post(reverse("admin:consent_campaign_add"), {
        "plan": approved_plan.pk, "name": "1차 가맹점 동의 요청", "subject_kind": "merchant",
        "audience": "all", "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "expires_at_0": (now + dt.timedelta(days=14)).strftime("%Y-%m-%d"),
        "expires_at_1": "18:00:00", "quiet_from_hour": 21, "quiet_until_hour": 8,
        "send_rate_per_second": 50, "reminder_count": 1, "reminder_after_hours": 48,
        "items": ["merchant.email"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get()
    assert (campaign.items, campaign.created_by) == (["merchant.email"], officer)
    assert AuditEvent.objects.filter(action="campaign.created",
                                     actor_id=f"user:{officer.pk}").exists()


def test_launch_pause_resume_and_cancel_are_admin_actions(kim, merchants, campaign_for,
                                                          outbox):
    merchants(2)
    campaign = campaign_for()
    _action(kim, "launch", campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert ConsentRequest.objects.filter(campaign=campaign).count() == 2
    _action(kim, "pause", campaign)
    response = _action(kim, "pause", campaign)  # refused by the service, said plainly
    assert "발송 중인 캠페인만" in response.content.decode()
    _action(kim, "resume", campaign)
    _action(kim, "cancel", campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED


def test_the_funnel_page_shows_a_chart_and_the_same_numbers_in_a_table(kim, running):
    campaign, _subjects = running
    response = kim.get(reverse("admin:consent_campaign_funnel", args=[campaign.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "vendor/chart.js/chart.umd.min.js" in page
    assert 'id="funnel-chart"' in page
    assert '<tr class="row1" data-step="created">' in page
    assert '<td class="count">3</td>' in page  # created, sent, and delivered
    # The console provider counts as delivered at once (the outbox is where it arrives).
    assert '"counts": [3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0]' in page


def test_chart_js_is_vendored_with_its_licence():
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/chart.js/chart.umd.min.js")
    assert "MIT" in open(finders.find("vendor/chart.js/LICENSE.md")).read()


def test_resend_failed_messages_is_an_admin_action(kim, running):
    campaign, _subjects = running
    SmsMessage.objects.filter(pk=SmsMessage.objects.order_by("id").first().pk).update(
        status=SmsMessage.Status.FAILED)
    _action(kim, "resend_failed", campaign)
    assert SmsMessage.objects.filter(purpose="resend").count() == 1
    assert AuditEvent.objects.filter(action="sms.resend_queued").exists()


def test_an_officer_settles_a_reply_from_the_review_queue(kim, running, officer):
    campaign, (first, *_rest) = running
    inbound = sms_reply_receive(provider_sid="SMq", from_phone=normalize_mobile(first.phone),
                                body="동의하는데 계좌는 빼주세요")
    url = reverse("admin:consent_inboundsms_resolve", args=[inbound.pk])
    page = kim.get(url).content.decode()
    assert "동의하는데 계좌는 빼주세요" in page
    assert normalize_mobile(first.phone) not in page and first.phone not in page

    request = campaign.requests.get(subject=first)
    response = kim.post(url, {"decision": "decline", "request": request.pk})

    assert response.status_code == 302
    inbound.refresh_from_db()
    assert (inbound.outcome, inbound.resolved_by) == (InboundSms.Outcome.RESOLVED, officer)
    assert inbound.record.channel == ConsentRecord.Channel.SMS_REPLY


def test_a_consent_taken_by_phone_needs_a_reason_and_records_the_officer(kim, running,
                                                                         officer):
    campaign, (first, *_rest) = running
    request = campaign.requests.get(subject=first)
    url = reverse("admin:consent_consentrecord_phone")
    data = {"request_id": str(request.public_id), "action": "answer",
            "agreed": ["merchant.email"], "declined": ["merchant.settlement_bank_account"],
            "reason": ""}
    assert kim.post(url, data).status_code == 200  # the form again, with the error
    assert not ConsentRecord.objects.exists()

    data["reason"] = "콜센터 통화 2026-11-25 본인 확인 후 구두 동의"
    response = kim.post(url, data)

    assert response.status_code == 302
    record = ConsentRecord.objects.get()
    assert (record.channel, record.officer, record.identity_factor) == (
        ConsentRecord.Channel.PHONE, officer, "officer_call")
    assert record.items_agreed == ["merchant.email"]


def test_evidence_is_read_only(kim, running):
    _campaign, _subjects = running
    msg = SmsMessage.objects.first()
    url = reverse("admin:consent_smsmessage_change", args=[msg.pk])
    assert kim.post(url, {"status": "delivered"}).status_code == 403
    assert kim.get(reverse("admin:consent_consentrecord_add")).status_code == 403


def test_no_page_shows_a_phone_number_or_a_link_token(kim, running, outbox):
    campaign, subjects = running
    tokens = [line["url"].rsplit("/", 1)[1] for line in outbox.lines()]
    numbers = [normalize_mobile(s.phone) for s in subjects] + [s.phone for s in subjects]
    pages = [reverse("admin:consent_smsmessage_changelist"),
             reverse("admin:consent_consentrequest_changelist"),
             reverse("admin:consent_campaign_change", args=[campaign.pk]),
             reverse("admin:consent_campaign_funnel", args=[campaign.pk])]
    pages += [reverse("admin:consent_smsmessage_change", args=[m.pk])
              for m in SmsMessage.objects.all()]
    pages += [reverse("admin:consent_consentrequest_change", args=[r.pk])
              for r in ConsentRequest.objects.all()]
    for url in pages:
        page = kim.get(url).content.decode()
        if "/smsmessage/" in url and url.rstrip("/").endswith("change"):
            assert "[링크]" in page  # the body, with its token masked
        for secret in tokens + numbers:
            assert secret not in page, f"{url} shows a number or a token"


def test_a_staff_member_without_a_role_sees_no_campaign_and_cannot_pause_one(
        client, clerk, running):
    """Choi logs in with both factors but holds neither role: no campaign, funnel, message or
    reply is shown to her, and her pause leaves the campaign running."""
    campaign, (first, *_rest) = running
    login_verified(client, clerk)

    pages = [client.get(reverse("admin:consent_campaign_changelist")),
             client.get(reverse("admin:consent_campaign_change", args=[campaign.pk])),
             client.get(reverse("admin:consent_campaign_funnel", args=[campaign.pk])),
             client.get(reverse("admin:consent_smsmessage_changelist")),
             client.get(reverse("admin:consent_consentrequest_changelist")),
             _action(client, "pause", campaign)]

    for page in pages:
        assert page.status_code == 403
        body = page.content.decode()
        assert campaign.name not in body and first.public_id not in body
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert not AuditEvent.objects.filter(actor_id=f"user:{clerk.pk}").exists()


def test_a_staff_member_without_a_role_is_refused_the_evidence_pages_before_any_lookup(
        client, clerk, running):
    """Choi holds neither role: recording a call, resolving a reply, a campaign's funnel, a
    phone notice, a plan's summary and a rehearsal report are refused (403) alike for an id
    that exists and one that does not, so a refusal tells her nothing."""
    campaign, (first, *_rest) = running
    request = ConsentRequest.objects.filter(campaign=campaign).first()
    inbound = sms_reply_receive(provider_sid="SMr", from_phone=normalize_mobile(first.phone),
                                body="잘 모르겠어요")
    login_verified(client, clerk)
    urls = [reverse("admin:consent_consentrecord_phone")]
    for name, real in (("admin:consent_inboundsms_resolve", inbound.pk),
                       ("admin:consent_campaign_funnel", campaign.pk),
                       ("admin:consent_consentrequest_phone_notice", request.pk),
                       ("admin:governance_transferplan_summary", campaign.plan_id),
                       ("admin:operations_rehearsalrun_report", 1)):
        urls += [reverse(name, args=[real]), reverse(name, args=[999_999])]

    for url in urls:
        response = client.post(url, {"reason": "확인"}) if "phone" in url else client.get(url)
        assert response.status_code == 403, url
        assert first.public_id not in response.content.decode()
    assert not AuditEvent.objects.filter(actor_id=f"user:{clerk.pk}").exists()
