"""Campaigns: created for an approved plan, launched once, paused, resumed, cancelled."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Campaign, ConsentRequest, SmsMessage, SmsOptOut
from consent.services.campaigns import (
    CampaignError,
    campaign_cancel,
    campaign_create,
    campaign_funnel,
    campaign_launch,
    campaign_pause,
    campaign_resume,
)
from governance.crypto import phone_index
from governance.seoul import synthetic_phone
from tests.consent.sms_fixtures import *  # noqa: F403


def test_it_asks_about_the_plans_consent_and_notice_items_of_that_kind_by_default(
        campaign_for):
    campaign = campaign_for()
    assert set(campaign.items) == {"merchant.settlement_bank_account", "merchant.email"}
    assert "merchant.marketing_opt_in" not in campaign.items  # prohibited: never asked
    assert AuditEvent.objects.filter(action="campaign.created",
                                     target_id=str(campaign.pk)).exists()


def test_it_refuses_items_the_plan_does_not_ask_about(campaign_for):
    with pytest.raises(CampaignError):
        campaign_for(items=["merchant.shop_name"])  # not personal: nothing to ask


def test_it_refuses_a_plan_that_is_not_approved(approved_plan, officer):
    from governance.models import TransferPlan

    TransferPlan.objects.filter(pk=approved_plan.pk).update(status="draft")
    approved_plan.refresh_from_db()
    with pytest.raises(CampaignError):
        campaign_create(plan=approved_plan, name="x", subject_kind="merchant", by=officer,
                        expires_at=timezone.now() + dt.timedelta(days=3))


def test_launch_creates_one_request_and_one_queued_invitation_per_subject(
        merchants, campaign_for, outbox):
    subjects = merchants(4)
    campaign = campaign_for()

    result = campaign_launch(campaign=campaign)  # on_commit never fires here: nothing sent

    assert result.requests == 4
    assert ConsentRequest.objects.filter(campaign=campaign).count() == 4
    assert set(ConsentRequest.objects.filter(campaign=campaign)
               .values_list("subject_id", flat=True)) == {s.pk for s in subjects}
    assert SmsMessage.objects.filter(request__campaign=campaign,
                                     status=SmsMessage.Status.QUEUED).count() == 4
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    event = AuditEvent.objects.get(action="campaign.launched", target_id=str(campaign.pk))
    assert event.details["requests"] == 4


def test_subjects_without_a_mobile_number_or_opted_out_are_skipped_and_counted(
        merchants, campaign_for):
    merchants(2, start=100)
    merchants(1, start=200, phone=False)
    SmsOptOut.objects.create(phone_index=phone_index(synthetic_phone(101)))

    result = campaign_launch(campaign=campaign_for())

    assert (result.requests, result.skipped_no_mobile, result.skipped_opted_out) == (3, 1, 1)
    assert SmsMessage.objects.filter(status=SmsMessage.Status.QUEUED).count() == 1


def test_a_filtered_or_listed_audience_asks_only_those_subjects(merchants, campaign_for):
    merchants(5, start=100)
    by_prefix = campaign_for(audience="filter", audience_filter={"external_id_prefix": "M-00010"})
    listed = campaign_for(audience="list", audience_filter={"external_ids": ["M-000101",
                                                                            "M-000103"]})
    assert campaign_launch(campaign=by_prefix).requests == 5
    assert campaign_launch(campaign=listed).requests == 2


def test_a_campaign_is_launched_only_once(merchants, campaign_for):
    merchants(2)
    campaign = campaign_for()
    campaign_launch(campaign=campaign)
    with pytest.raises(CampaignError):
        campaign_launch(campaign=campaign)
    assert ConsentRequest.objects.count() == 2


def test_pause_resume_and_cancel_follow_the_allowed_transitions(merchants, campaign_for,
                                                                officer):
    merchants(2)
    campaign = campaign_for()
    with pytest.raises(CampaignError):
        campaign_pause(campaign=campaign, by=officer)  # still a draft
    campaign_launch(campaign=campaign, by=officer)
    campaign_pause(campaign=campaign, by=officer)
    with pytest.raises(CampaignError):
        campaign_pause(campaign=campaign, by=officer)
    campaign_resume(campaign=campaign, by=officer)
    campaign_cancel(campaign=campaign, by=officer)
    with pytest.raises(CampaignError):
        campaign_resume(campaign=campaign, by=officer)

    assert campaign.status == Campaign.Status.CANCELLED
    assert not SmsMessage.objects.filter(status=SmsMessage.Status.QUEUED).exists()
    assert set(ConsentRequest.objects.values_list("status", flat=True)) == {"cancelled"}
    actions = list(AuditEvent.objects.filter(target_type="consent.campaign")
                   .values_list("action", flat=True))
    for action in ("campaign.paused", "campaign.resumed", "campaign.cancelled"):
        assert action in actions


def test_the_funnel_counts_each_step(merchants, campaign_for, outbox,
                                     django_capture_on_commit_callbacks):
    from consent.services.decisions import consent_answer

    merchants(3)
    campaign = campaign_for()
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign)
    first = ConsentRequest.objects.filter(campaign=campaign).order_by("id").first()
    consent_answer(request=first, agreed=["merchant.email"],
                   declined=["merchant.settlement_bank_account"], channel="web",
                   identity_factor="brn")

    funnel = campaign_funnel(campaign=campaign)

    assert funnel["created"] == 3
    assert funnel["sent"] == 3
    assert funnel["agreed"] == 1
    assert funnel["declined"] == 1
    assert funnel["expired"] == 0
    assert list(funnel) == ["created", "sent", "delivered", "failed", "opened", "verified",
                            "agreed", "declined", "withdrawn", "objected", "expired"]
