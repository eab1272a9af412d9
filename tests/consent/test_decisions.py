"""consent.services.decisions: answers, withdrawals and objections (the contract)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Campaign, ConsentRecord, ConsentRequest
from consent.selectors import consent_current
from consent.services.decisions import (
    NoticeChanged,
    consent_answer,
    consent_object,
    consent_withdraw,
)
from consent.services.errors import (
    AlreadyObjected,
    ConsentError,
    InvalidAnswer,
    NothingToObject,
    NothingToWithdraw,
    OfficerRequired,
    RequestClosed,
)
from governance.models import SubjectConsentState
from governance.policy import Reason
from governance.selectors import plan_decisions

pytestmark = pytest.mark.django_db

ACCOUNT, EMAIL, MARKETING = ("merchant.settlement_bank_account", "merchant.email",
                             "merchant.marketing_opt_in")


def _web(**kw):
    return {"channel": "web", "identity_factor": "brn", **kw}


def _decisions(plan, subject):
    [(_, decisions)] = list(plan_decisions(plan, now=timezone.now(), subject_ids=[subject.pk]))
    return decisions


def test_an_answer_is_recorded_mirrored_and_audited(merchant_request, merchant, approved_plan):
    record = consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[EMAIL],
                            **_web())
    assert record.action == ConsentRecord.Action.ANSWER
    assert record.items_agreed == [ACCOUNT] and record.items_declined == [EMAIL]
    assert record.notice.kind == "consent" and record.notice_hash == record.notice.text_hash
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=merchant)
    assert state.fields_granted == [ACCOUNT] and state.fields_declined == [EMAIL]
    assert state.notice_hash == record.notice_hash and not state.objected
    merchant_request.refresh_from_db()
    assert merchant_request.status == ConsentRequest.Status.ANSWERED
    assert merchant_request.answered_at is not None
    event = AuditEvent.objects.get(action="consent.answered")
    assert event.actor_id == f"subject:{merchant.public_id}"
    assert event.details["receipt"] == str(record.receipt_id)
    assert event.details["request"] == str(merchant_request.public_id)
    assert event.details["agreed"] == [ACCOUNT] and event.details["declined"] == [EMAIL]
    assert event.details["notice_hash"] == record.notice_hash
    assert event.details["channel"] == "web"
    # The policy now lets the agreed item move and holds the declined one back; marketing
    # opt-in was never asked and never moves (the incoming operator asks afresh).
    decisions = _decisions(approved_plan, merchant)
    assert decisions[ACCOUNT].reason == Reason.ALLOWED_CONSENT
    assert decisions[EMAIL].reason == Reason.DENIED_CONSENT_DECLINED
    assert decisions[MARKETING].reason == Reason.DENIED_PROHIBITED


def test_declining_the_required_items_keeps_them_back_but_optional_ones_still_move(
        merchant_request, merchant, approved_plan):
    consent_answer(request=merchant_request, agreed=[EMAIL], declined=[ACCOUNT], **_web())
    decisions = _decisions(approved_plan, merchant)
    assert decisions[ACCOUNT].reason == Reason.DENIED_CONSENT_DECLINED
    assert decisions[EMAIL].reason == Reason.ALLOWED_CONSENT
    assert decisions[MARKETING].reason == Reason.DENIED_PROHIBITED


@pytest.mark.parametrize("agreed, declined, words", [
    (["merchant.representative_name"], [], "없는 항목"),          # not a consent item
    ([MARKETING], [], "없는 항목"),                               # prohibited: never asked
    ([], [MARKETING], "없는 항목"),
    (["merchant.nonexistent"], [], "없는 항목"),
    ([EMAIL], [EMAIL], "함께 선택할 수 없습니다: 이메일"),
    ([], [], "하나 이상"),
])
def test_it_refuses_a_malformed_answer_and_writes_nothing(merchant_request, agreed, declined,
                                                          words):
    with pytest.raises(InvalidAnswer) as error:
        consent_answer(request=merchant_request, agreed=agreed, declined=declined, **_web())
    assert words in error.value.message
    assert not ConsentRecord.objects.exists()
    assert not SubjectConsentState.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="consent.").exists()


def test_required_items_stand_or_fall_together(approved_plan, merchant_campaign, merchant,
                                               field_catalogue):
    from governance.models import FieldRule

    # Make e-mail required too, so there are two required items.
    FieldRule.objects.filter(plan=approved_plan, field__key=EMAIL).update(required=True)
    from tests.consent.conftest import make_request

    request = make_request(merchant_campaign, merchant)
    with pytest.raises(InvalidAnswer, match="필수 항목은 모두"):
        consent_answer(request=request, agreed=[ACCOUNT], declined=[EMAIL], **_web())


def test_it_refuses_an_answer_after_the_request_expired(merchant_request):
    ConsentRequest.objects.filter(pk=merchant_request.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1))
    with pytest.raises(RequestClosed) as error:
        consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[], **_web())
    assert "기한" in error.value.message
    assert not ConsentRecord.objects.exists()


@pytest.mark.parametrize("closed", ["request", "campaign"])
def test_it_refuses_an_answer_to_a_cancelled_request(merchant_request, closed):
    if closed == "request":
        ConsentRequest.objects.filter(pk=merchant_request.pk).update(status="cancelled")
    else:
        Campaign.objects.filter(pk=merchant_request.campaign_id).update(status="cancelled")
    with pytest.raises(RequestClosed):
        consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[], **_web())


def test_it_refuses_an_answer_to_a_plan_no_longer_in_force(merchant_request, approved_plan):
    type(approved_plan).objects.filter(pk=approved_plan.pk).update(status="superseded")
    with pytest.raises(RequestClosed, match="유효하지"):
        consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[], **_web())


def test_a_stale_notice_hash_asks_the_subject_to_read_again(merchant_request):
    with pytest.raises(NoticeChanged):
        consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[],
                       notice_hash="0" * 64, **_web())
    assert not ConsentRecord.objects.exists()


def test_a_phone_answer_needs_the_officer_and_a_reason(merchant_request, officer):
    with pytest.raises(OfficerRequired):
        consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[],
                       channel="phone", identity_factor="officer_call")
    with pytest.raises(OfficerRequired):
        consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[],
                       channel="phone", identity_factor="officer_call", officer=officer,
                       reason="  ")
    record = consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[],
                            channel="phone", identity_factor="officer_call", officer=officer,
                            reason="가맹점주 전화 요청 (통화 녹취 #123)")
    assert record.officer == officer
    event = AuditEvent.objects.get(action="consent.answered")
    assert event.actor_id == f"user:{officer.pk}" and event.actor_type == "officer"
    assert "reason" not in event.details and event.details["officer_recorded"] is True


def test_an_unknown_channel_is_refused(merchant_request):
    with pytest.raises(ConsentError):
        consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[], channel="fax",
                       identity_factor="brn")


def test_withdrawal_withdraws_everything_agreed(merchant_request, merchant, approved_plan):
    consent_answer(request=merchant_request, agreed=[ACCOUNT, EMAIL], declined=[], **_web())
    record = consent_withdraw(request=merchant_request, **_web())
    assert record.action == ConsentRecord.Action.WITHDRAW
    assert record.items_declined == [EMAIL, ACCOUNT] and record.items_agreed == []
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=merchant)
    assert state.withdrawn_at is not None and state.fields_granted == []
    decisions = _decisions(approved_plan, merchant)
    assert decisions[ACCOUNT].reason == Reason.DENIED_CONSENT_WITHDRAWN
    assert decisions[EMAIL].reason == Reason.DENIED_CONSENT_WITHDRAWN
    event = AuditEvent.objects.get(action="consent.withdrawn")
    assert event.details["withdrawn"] == [EMAIL, ACCOUNT]
    assert consent_current(request=merchant_request) == record


def test_withdrawing_nothing_is_refused(merchant_request):
    with pytest.raises(NothingToWithdraw):
        consent_withdraw(request=merchant_request, **_web())
    consent_answer(request=merchant_request, agreed=[], declined=[ACCOUNT], **_web())
    with pytest.raises(NothingToWithdraw):
        consent_withdraw(request=merchant_request, **_web())
    consent_answer(request=merchant_request, agreed=[EMAIL], declined=[], **_web())
    consent_withdraw(request=merchant_request, **_web())
    with pytest.raises(NothingToWithdraw):  # twice
        consent_withdraw(request=merchant_request, **_web())


def test_withdrawal_stays_possible_after_the_request_expired(merchant_request):
    consent_answer(request=merchant_request, agreed=[EMAIL], declined=[], **_web())
    ConsentRequest.objects.filter(pk=merchant_request.pk).update(
        expires_at=timezone.now() - dt.timedelta(days=1), status="expired")
    assert consent_withdraw(request=merchant_request, **_web()).action == "withdraw"


def test_a_later_answer_after_withdrawal_is_a_new_record(merchant_request, merchant,
                                                         approved_plan):
    first = consent_answer(request=merchant_request, agreed=[EMAIL], declined=[], **_web())
    consent_withdraw(request=merchant_request, **_web())
    again = consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[], **_web())
    assert again.pk != first.pk and ConsentRecord.objects.count() == 3
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=merchant)
    assert state.withdrawn_at is None and state.fields_granted == [ACCOUNT]
    assert consent_current(request=merchant_request) == again
    assert _decisions(approved_plan, merchant)[ACCOUNT].reason == Reason.ALLOWED_CONSENT


def test_a_record_cannot_be_changed(merchant_request):
    record = consent_answer(request=merchant_request, agreed=[EMAIL], declined=[], **_web())
    record.items_agreed = [ACCOUNT]
    with pytest.raises(ValueError, match="immutable"):
        record.save()


def test_an_objection_keeps_the_notice_items_back(user_request, user, approved_plan):
    record = consent_object(request=user_request, **_web(identity_factor="phone_last4"))
    assert record.action == ConsentRecord.Action.OBJECT
    assert record.notice.kind == "transfer"
    assert record.items_declined == ["user.certificate_balance", "user.name", "user.phone"]
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=user)
    assert state.objected
    decisions = _decisions(approved_plan, user)
    assert decisions["user.phone"].reason == Reason.DENIED_OBJECTED
    assert AuditEvent.objects.get(action="consent.objected").details["objected_count"] == 3
    with pytest.raises(AlreadyObjected):
        consent_object(request=user_request, **_web(identity_factor="phone_last4"))


def test_an_objection_keeps_earlier_consent_answers_and_an_answer_keeps_the_objection(
        user_request, user, approved_plan):
    consent_answer(request=user_request, agreed=["user.purchase_history"],
                   declined=["user.refund_account"], **_web(identity_factor="phone_last4"))
    consent_object(request=user_request, **_web(identity_factor="phone_last4"))
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=user)
    assert state.objected and state.fields_granted == ["user.purchase_history"]
    consent_answer(request=user_request, agreed=["user.refund_account"], declined=[],
                   **_web(identity_factor="phone_last4"))
    state.refresh_from_db()
    assert state.objected and state.fields_granted == ["user.refund_account"]


def test_a_request_without_notice_items_cannot_be_objected_to(merchant_request):
    with pytest.raises(NothingToObject):
        consent_object(request=merchant_request, **_web())


def test_consent_current_is_the_newest_record_of_that_plan_and_subject(
        merchant_request, merchant_campaign, merchant):
    assert consent_current(request=merchant_request) is None
    consent_answer(request=merchant_request, agreed=[EMAIL], declined=[], **_web())
    # A second request to the same subject (e.g. a follow-up campaign) sees the same state.
    from tests.consent.conftest import _campaign, make_request

    other = make_request(_campaign(merchant_campaign.plan, "merchant"), merchant)
    latest = consent_answer(request=other, agreed=[ACCOUNT], declined=[], **_web())
    assert consent_current(request=merchant_request) == latest
