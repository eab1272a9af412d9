"""The notice LMS: a campaign about Art. 27 items only sends the notice itself, in one LMS
that fits the carriers' encoding, and the record keeps which notice it was."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Campaign, ConsentRequest, Notice, SmsMessage
from consent.notices import notice_current
from consent.services.campaigns import CampaignError, campaign_launch
from consent.sms_text import LMS_BYTES
from governance.crypto import normalize_mobile
from tests.consent.notice_fixtures import *  # noqa: F403
from tests.consent.sms_fixtures import *  # noqa: F403
from tests.staff import login_verified


def _body(outbox, subject) -> str:
    return next(line["body"] for line in outbox.lines()
                if line["to"] == normalize_mobile(subject.phone))


def test_the_lms_names_the_recipient_what_moves_from_when_and_how_to_object(
        users, notice_campaign_for, outbox, approved_plan, settings,
        django_capture_on_commit_callbacks):
    (user,) = users(1)
    launched(notice_campaign_for(), django_capture_on_commit_callbacks)  # noqa: F405

    body = _body(outbox, user)
    to = approved_plan.to_operator
    assert "제27조" in body
    assert f"이전받는 자: {to.name} (연락처: {to.address} / {to.phone})" in body
    assert "이전 항목: 이용자 전화번호, 이용자 이름, 상품권 잔액" in body
    assert "구매 내역" not in body  # a consent item: not moved on notice
    assert "이 안내를 받으신 때부터 30일 후" in body
    cutover = timezone.localtime(approved_plan.cutover_at).strftime("%Y년 %m월 %d일 %H:%M")
    assert f"전환 일시: {cutover}" in body
    assert "[이전 거부]" in body and f"콜센터({settings.CALL_CENTRE_PHONE})" in body
    assert body.rstrip().endswith(outbox.lines()[0]["url"])  # the personal link, last
    assert len(body.encode("cp949")) <= LMS_BYTES


def test_the_message_keeps_the_hash_of_the_notice_it_carried(
        users, notice_campaign_for, outbox, approved_plan, django_capture_on_commit_callbacks):
    users(2)
    launched(notice_campaign_for(), django_capture_on_commit_callbacks)  # noqa: F405

    notice = notice_current(plan=approved_plan, subject_kind="user", kind=Notice.Kind.TRANSFER)
    sent = SmsMessage.objects.all()
    assert sent.count() == 2
    assert {(m.notice_id, m.notice_hash) for m in sent} == {(notice.pk, notice.text_hash)}
    assert all("이전받는 자" in m.body_redacted and "[링크]" in m.body_redacted for m in sent)


def test_a_consent_campaign_sends_its_invitation_without_a_notice_hash(
        merchants, campaign_for, outbox, django_capture_on_commit_callbacks):
    merchants(1)
    campaign = campaign_for()
    assert not campaign.carries_notice
    launched(campaign, django_capture_on_commit_callbacks)  # noqa: F405

    (line,) = outbox.lines()
    assert "동의를 요청드립니다" in line["body"] and "이전받는 자" not in line["body"]
    assert "필수 항목(정산 계좌)" in line["body"]  # what a reply of 동의 would agree to
    assert SmsMessage.objects.get().notice_hash == ""


def test_a_user_campaign_that_also_asks_for_consent_does_not_carry_the_notice(
        users, notice_campaign_for):
    campaign = notice_campaign_for(items=["user.phone", "user.purchase_history"])
    assert not campaign.carries_notice


def test_a_reminder_carries_the_whole_notice_again(
        users, notice_campaign_for, outbox, settings, django_capture_on_commit_callbacks):
    from consent.tasks import tick

    (user,) = users(1, phone=True)
    campaign = launched(notice_campaign_for(reminder_after_hours=1),  # noqa: F405
                        django_capture_on_commit_callbacks)
    # The console counts as delivered (evidence): pretend this one never arrived.
    from governance.models import NoticeEvidence, SubjectNotice

    NoticeEvidence.objects.all().delete()
    SubjectNotice.objects.all().delete()
    ConsentRequest.objects.filter(campaign=campaign).update(
        next_reminder_at=timezone.now() - dt.timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        tick()

    first, again = (line["body"] for line in outbox.lines())
    assert "재안내" in again and "재안내" not in first
    assert "이전받는 자" in again and "이 안내를 받으신 때부터 30일 후" in again
    assert SmsMessage.objects.get(purpose="reminder").notice_hash


def _too_long_for_one_lms(plan) -> None:
    """The recipient's name and address and the items' labels as long as the catalogue
    lets them be: together more than one LMS holds."""
    from governance.models import Field, Operator

    Operator.objects.filter(pk=plan.to_operator_id).update(name="신" * 200, address="서" * 300)
    Field.objects.filter(key__in=NOTICE_ITEMS).update(label_ko="항" * 100)  # noqa: F405


def test_launch_refuses_a_notice_that_does_not_fit_one_lms_and_says_how_long_it_is(
        users, notice_campaign_for, approved_plan, outbox):
    users(1)
    _too_long_for_one_lms(approved_plan)
    campaign = notice_campaign_for()

    with pytest.raises(CampaignError) as refused:
        campaign_launch(campaign=campaign)

    message = refused.value.message
    assert "2,000바이트" in message and "LMS" in message
    measured = int(message.split("가장 길 때 ")[1].split("바이트")[0].replace(",", ""))
    assert measured > LMS_BYTES
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not ConsentRequest.objects.exists() and outbox.lines() == []
    assert not AuditEvent.objects.filter(action="campaign.launched").exists()


def test_launch_measures_the_longest_body_the_reminder_included(
        users, notice_campaign_for, approved_plan, outbox, django_capture_on_commit_callbacks):
    from consent.services.sending import campaign_longest_sms

    users(1)
    campaign = notice_campaign_for()
    longest = campaign_longest_sms(campaign=campaign)
    launched(campaign, django_capture_on_commit_callbacks)  # noqa: F405

    (line,) = outbox.lines()
    sent = len(line["body"].encode("cp949"))
    assert sent <= longest <= LMS_BYTES
    assert AuditEvent.objects.get(action="campaign.launched").details["longest_sms_bytes"] \
        == longest


def test_launch_refuses_a_character_the_carriers_cannot_carry(
        users, notice_campaign_for, approved_plan):
    to = approved_plan.to_operator
    type(to).objects.filter(pk=to.pk).update(name="신한카드 컨소시엄 😀")
    with pytest.raises(CampaignError, match="cp949"):
        campaign_launch(campaign=notice_campaign_for())


def test_the_admin_shows_the_refusal_with_the_measured_size(
        client, officer, users, notice_campaign_for, approved_plan, outbox):
    users(1)
    _too_long_for_one_lms(approved_plan)
    campaign = notice_campaign_for()
    login_verified(client, officer)

    page = client.post(reverse("admin:consent_campaign_changelist"),
                       {"action": "launch", "_selected_action": [campaign.pk]}, follow=True)

    html = page.content.decode()
    assert "LMS" in html and "2,000바이트" in html and "바이트(cp949)" in html
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
