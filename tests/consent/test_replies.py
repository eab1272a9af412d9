"""SMS replies: a clear yes or no from the one open request's number is applied to what the
SMS stated (its required items, never an optional or marketing one); anything else waits for
an officer; STOP stops further SMS."""

import pytest

from audit.models import AuditEvent
from consent.models import ConsentRecord, InboundSms, SmsMessage, SmsOptOut
from consent.services.campaigns import campaign_launch
from consent.services.replies import (
    ReviewError,
    reply_intent,
    sms_reply_dismiss,
    sms_reply_receive,
    sms_reply_resolve,
)
from governance.crypto import normalize_mobile
from governance.models import SubjectConsentState
from tests.consent.sms_fixtures import *  # noqa: F403

Outcome = InboundSms.Outcome
REQUIRED = ["merchant.settlement_bank_account"]  # the plan's one required consent item
OPTIONAL = ["merchant.email"]  # marketing opt-in is never asked: the recipient asks afresh


@pytest.fixture
def asked(merchants, campaign_for):
    """Two merchants asked in one launched campaign: (subjects, campaign)."""
    subjects = merchants(2)
    campaign = campaign_for()
    campaign_launch(campaign=campaign)
    return subjects, campaign


@pytest.fixture
def sent(asked, outbox):
    """The campaign's invitations sent (console provider): each names the required items."""
    from consent.services.sending import campaign_send_run

    campaign_send_run(campaign_id=asked[1].pk, budget_seconds=None)
    assert SmsMessage.objects.filter(status=SmsMessage.Status.DELIVERED).count() == 2
    return asked


def _reply(subject, body, sid="SMr1"):
    return sms_reply_receive(provider_sid=sid, from_phone=normalize_mobile(subject.phone),
                             body=body)


@pytest.mark.parametrize("body, intent", [
    ("동의", "agree"), (" 예 ", "agree"), ("yes", "agree"), ("Y", "agree"), ("1", "agree"),
    ("동의!", "agree"), ("거부", "decline"), ("아니오", "decline"), ("No", "decline"),
    ("n", "decline"), ("2", "decline"), ("수신거부", "opt_out"), ("stop", "opt_out"),
    ("동의합니다만 계좌는 빼주세요", None), ("네", None), ("3", None), ("", None),
    ("동의 거부", None),
])
def test_it_understands_only_the_listed_words(body, intent):
    assert reply_intent(body) == intent


def test_the_invitation_names_the_required_items_and_what_a_reply_covers(sent, outbox):
    body = outbox.lines()[0]["body"]
    assert "필수 항목(정산 계좌)을 신한카드 컨소시엄에 제공하는 데 동의하시면 '동의'" in body
    assert "회신은 이 필수 항목에만 적용" in body
    assert "이메일" not in body and "마케팅" not in body


def test_yes_agrees_only_to_the_required_items_the_sms_named(sent):
    (kim, _), _campaign = sent
    inbound = _reply(kim, "동의")

    assert inbound.outcome == Outcome.APPLIED
    record = inbound.record
    assert record.channel == ConsentRecord.Channel.SMS_REPLY
    assert record.identity_factor == "phone_match"
    assert record.items_agreed == REQUIRED and record.items_declined == []
    state = SubjectConsentState.objects.get(subject=kim)
    assert state.fields_granted == REQUIRED and state.fields_declined == []  # optional: undecided
    event = AuditEvent.objects.get(action="sms.reply_received")
    assert event.details["intent"] == "agree"
    assert "동의" not in str(event.details) and "+82" not in str(event.details)


def test_the_record_of_a_reply_holds_the_sms_it_answers_and_no_notice(sent):
    (kim, _), _campaign = sent
    record = _reply(kim, "동의").record
    assert record.notice is None and record.notice_hash == ""  # no notice page was shown
    assert record.sms_message.request.subject == kim
    assert "필수 항목(정산 계좌)" in record.sms_message.body_redacted
    answered = AuditEvent.objects.get(action="consent.answered")
    assert answered.details["notice_hash"] == "" and answered.details["sms_message"]


def test_a_reply_keeps_what_the_subject_chose_on_the_page_for_the_other_items(sent):
    from consent.services.decisions import consent_answer

    (kim, lee), campaign = sent
    # Kim agreed to the optional item on the page, Lee declined it; both declined the
    # required one there, then replied yes by SMS.
    consent_answer(request=campaign.requests.get(subject=kim), agreed=OPTIONAL,
                   declined=REQUIRED, channel="web", identity_factor="brn")
    consent_answer(request=campaign.requests.get(subject=lee), agreed=[],
                   declined=[*OPTIONAL, *REQUIRED], channel="web", identity_factor="brn")
    _reply(kim, "동의", sid="SMkim")
    _reply(lee, "동의", sid="SMlee")
    state = SubjectConsentState.objects.get(subject=kim)
    assert sorted(state.fields_granted) == [*OPTIONAL, *REQUIRED]
    assert state.fields_declined == []
    state = SubjectConsentState.objects.get(subject=lee)
    assert state.fields_granted == REQUIRED and state.fields_declined == OPTIONAL


def test_no_declines_only_the_items_the_sms_named(sent):
    (kim, _), _campaign = sent
    inbound = _reply(kim, "거부")
    assert inbound.outcome == Outcome.APPLIED
    assert inbound.record.items_declined == REQUIRED
    state = SubjectConsentState.objects.get(subject=kim)
    assert state.fields_declined == REQUIRED and state.fields_granted == []


def test_a_reply_to_an_sms_that_named_no_items_waits_for_review(asked):
    (kim, _), _campaign = asked  # nothing sent: no SMS stated anything
    inbound = _reply(kim, "동의")
    assert inbound.outcome == Outcome.NEEDS_REVIEW
    assert "적혀 있지 않음" in inbound.review_reason
    assert not ConsentRecord.objects.exists()


def test_the_same_reply_delivered_twice_is_applied_once(sent):
    (kim, _), _campaign = sent
    _reply(kim, "동의", sid="SMdup")
    _reply(kim, "동의", sid="SMdup")
    assert InboundSms.objects.count() == 1
    assert ConsentRecord.objects.count() == 1


def test_anything_else_waits_for_review_and_is_never_guessed(asked):
    (kim, _), _campaign = asked
    inbound = _reply(kim, "계좌 정보만 빼고 동의할게요")
    assert inbound.outcome == Outcome.NEEDS_REVIEW
    assert inbound.request is not None  # the officer sees which request it is about
    assert not ConsentRecord.objects.exists()


def test_an_unknown_number_waits_for_review(asked):
    inbound = sms_reply_receive(provider_sid="SMx", from_phone="+821077776666", body="동의")
    assert inbound.outcome == Outcome.NEEDS_REVIEW
    assert inbound.request is None
    assert not ConsentRecord.objects.exists()


def test_a_number_with_several_open_requests_waits_for_review(asked, campaign_for):
    (kim, _), _campaign = asked
    campaign_launch(campaign=campaign_for())  # a second campaign asks Kim again
    inbound = _reply(kim, "동의")
    assert inbound.outcome == Outcome.NEEDS_REVIEW
    assert "여러 건" in inbound.review_reason
    assert not ConsentRecord.objects.exists()


def test_stop_opts_the_number_out_of_further_sms(asked):
    (kim, lee), _campaign = asked
    inbound = _reply(kim, "수신거부")
    assert inbound.outcome == Outcome.OPTED_OUT
    assert SmsOptOut.objects.filter(phone_index=kim.phone_index).exists()
    assert SmsMessage.objects.get(request__subject=kim).status == SmsMessage.Status.SKIPPED
    assert SmsMessage.objects.get(request__subject=lee).status == SmsMessage.Status.QUEUED
    assert not ConsentRecord.objects.exists()  # not an answer


def test_an_officer_resolves_a_review_by_applying_a_decline_to_the_chosen_request(
        sent, officer):
    (kim, _), campaign = sent
    inbound = _reply(kim, "아니요 싫어요")
    request = campaign.requests.get(subject=kim)

    resolved = sms_reply_resolve(inbound=inbound, action="decline", request=request,
                                 officer=officer)

    assert resolved.outcome == Outcome.RESOLVED and resolved.resolved_by == officer
    assert resolved.record.items_declined == REQUIRED
    assert resolved.record.officer == officer
    event = AuditEvent.objects.get(action="sms.reply_resolved")
    assert event.actor_id == f"user:{officer.pk}"
    with pytest.raises(ReviewError):
        sms_reply_resolve(inbound=inbound, action="agree", request=request, officer=officer)


def test_an_officer_cannot_apply_a_reply_to_someone_elses_request(asked, officer):
    (kim, lee), campaign = asked
    inbound = _reply(kim, "뭐라고요?")
    with pytest.raises(ReviewError, match="일치하지"):
        sms_reply_resolve(inbound=inbound, action="agree", officer=officer,
                          request=campaign.requests.get(subject=lee))
    assert not ConsentRecord.objects.exists()


def test_an_officer_can_dismiss_a_reply_or_register_an_opt_out(asked, officer):
    (kim, lee), _campaign = asked
    first = sms_reply_dismiss(inbound=_reply(kim, "광고인가요", sid="SM1"), officer=officer)
    assert first.outcome == Outcome.DISMISSED
    second = sms_reply_resolve(inbound=_reply(lee, "그만 보내세요", sid="SM2"), action="opt_out",
                               officer=officer)
    assert second.outcome == Outcome.RESOLVED
    assert SmsOptOut.objects.filter(phone_index=lee.phone_index).exists()


def test_the_reply_is_stored_encrypted(asked):
    from django.db import connection

    (kim, _), _campaign = asked
    _reply(kim, "동의합니다 정말로")
    with connection.cursor() as cursor:
        cursor.execute("SELECT from_phone, body FROM consent_inboundsms")
        raw_phone, raw_body = cursor.fetchone()
    assert "정말로" not in raw_body and "+8210" not in raw_phone
