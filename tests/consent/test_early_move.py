"""Moving early ("지금 이전하기"): the recorded request, its withdrawal before a release carried
it, and what the subject's pages say about it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Campaign, ConsentRecord
from consent.services.decisions import NoticeChanged, consent_object
from consent.services.early import (
    AlreadyMoved,
    AlreadyRequestedEarly,
    NoEarlyRequest,
    NothingToMoveEarly,
    ObjectedCannotMoveEarly,
    consent_early_request,
    consent_early_withdraw,
)
from consent.services.errors import RequestClosed
from consent.tokens import link_issue
from governance.models import DataSubject, SubjectConsentState
from governance.policy import Reason
from governance.selectors import plan_decisions
from governance.services import provision_record
from tests.consent.conftest import USER_PHONE_LAST4, make_request

pytestmark = pytest.mark.django_db

NOTICE_ITEMS = ["user.certificate_balance", "user.name", "user.phone"]
WEB = {"channel": "web", "identity_factor": "phone_last4"}


def _text(response) -> str:
    return response.content.decode()


def _decisions(plan, subject, now=None):
    [(_, decisions)] = list(plan_decisions(plan, now=now or timezone.now(),
                                           subject_ids=[subject.pk]))
    return decisions


def _released(plan, *, at, items=tuple(NOTICE_ITEMS)):
    """What a finished release leaves in governance's register (as transfers writes it)."""
    return provision_record(plan=plan, items=items, subject_count=1, provided_from=at, by=None,
                            reference="release:test")


@pytest.fixture
def verified(client, user_link):
    client.get(f"/c/{user_link.token}")
    response = client.post(f"/c/{user_link.token}", {"answer": USER_PHONE_LAST4})
    assert response.status_code == 302
    return client


def test_an_early_request_is_recorded_mirrored_audited_and_lets_the_items_move(
        user_request, user, approved_plan):
    assert _decisions(approved_plan, user)["user.name"].reason == Reason.DENIED_NOT_NOTIFIED
    record = consent_early_request(request=user_request, **WEB)
    assert record.action == ConsentRecord.Action.EARLY_REQUEST
    assert record.items_agreed == NOTICE_ITEMS and record.items_declined == []
    assert record.notice.kind == "transfer" and record.notice_hash == record.notice.text_hash
    assert record.channel == "web" and record.identity_factor == "phone_last4"
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=user)
    assert state.early_requested_at == record.created_at
    event = AuditEvent.objects.get(action="consent.early_requested")
    assert event.actor_id == f"subject:{user.public_id}"
    assert event.details["receipt"] == str(record.receipt_id)
    assert event.details["items"] == NOTICE_ITEMS and event.details["items_count"] == 3
    assert event.details["notice_hash"] == record.notice_hash
    decisions = _decisions(approved_plan, user)
    for key in NOTICE_ITEMS:
        assert decisions[key].reason == Reason.ALLOWED_EARLY_REQUEST
    # Consent items are not touched by an early request.
    assert decisions["user.refund_account"].reason == Reason.DENIED_CONSENT_PENDING


def test_it_refuses_a_second_early_request(user_request):
    consent_early_request(request=user_request, **WEB)
    with pytest.raises(AlreadyRequestedEarly):
        consent_early_request(request=user_request, **WEB)
    assert ConsentRecord.objects.count() == 1


def test_it_refuses_an_early_request_after_an_objection(user_request, user, approved_plan):
    consent_object(request=user_request, **WEB)
    with pytest.raises(ObjectedCannotMoveEarly):
        consent_early_request(request=user_request, **WEB)
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=user)
    assert state.early_requested_at is None
    assert not ConsentRecord.objects.filter(action="early_request").exists()


def test_an_objection_after_an_early_request_wins(user_request, user, approved_plan):
    consent_early_request(request=user_request, **WEB)
    consent_object(request=user_request, **WEB)
    for key in NOTICE_ITEMS:
        assert _decisions(approved_plan, user)[key].reason == Reason.DENIED_OBJECTED


def test_it_refuses_a_request_without_art27_items(merchant_request):
    with pytest.raises(NothingToMoveEarly):
        consent_early_request(request=merchant_request, channel="web", identity_factor="brn")
    assert not ConsentRecord.objects.exists()


def test_it_refuses_an_early_request_on_a_closed_request(user_request, user_campaign):
    Campaign.objects.filter(pk=user_campaign.pk).update(status="cancelled")
    user_request.campaign.refresh_from_db()
    with pytest.raises(RequestClosed):
        consent_early_request(request=user_request, **WEB)


def test_it_refuses_an_early_request_on_a_notice_the_subject_did_not_read(user_request):
    with pytest.raises(NoticeChanged):
        consent_early_request(request=user_request, notice_hash="0" * 64, **WEB)
    assert not ConsentRecord.objects.exists()


def test_withdrawing_before_a_release_puts_the_user_back_on_the_normal_path(
        user_request, user, approved_plan):
    from tests.history import notified_long_ago

    notified_long_ago(approved_plan, [user], days=3)  # reached, period still running
    requested = consent_early_request(request=user_request, **WEB)
    _released(approved_plan, at=requested.created_at - dt.timedelta(seconds=1))  # before: no
    record = consent_early_withdraw(request=user_request, **WEB)
    assert record.action == ConsentRecord.Action.EARLY_WITHDRAW
    assert record.items_declined == NOTICE_ITEMS and record.notice.kind == "transfer"
    assert SubjectConsentState.objects.get(plan=approved_plan,
                                           subject=user).early_requested_at is None
    event = AuditEvent.objects.get(action="consent.early_withdrawn")
    assert event.details["receipt"] == str(record.receipt_id)
    assert _decisions(approved_plan, user)["user.name"].reason == Reason.DENIED_NOTICE_PERIOD
    with pytest.raises(NoEarlyRequest):
        consent_early_withdraw(request=user_request, **WEB)


def test_it_refuses_to_withdraw_once_a_release_has_carried_the_request(
        user_request, user, approved_plan):
    requested = consent_early_request(request=user_request, **WEB)
    _released(approved_plan, at=requested.created_at + dt.timedelta(minutes=5))
    with pytest.raises(AlreadyMoved) as refused:
        consent_early_withdraw(request=user_request, **WEB)
    assert "이미 새 운영사로 이전되어" in refused.value.message
    assert "이전 거부" in refused.value.message
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=user)
    assert state.early_requested_at == requested.created_at
    assert not ConsentRecord.objects.filter(action="early_withdraw").exists()
    assert not AuditEvent.objects.filter(action="consent.early_withdrawn").exists()


def test_a_release_of_other_items_does_not_block_the_withdrawal(user_request, approved_plan):
    requested = consent_early_request(request=user_request, **WEB)
    _released(approved_plan, at=requested.created_at + dt.timedelta(minutes=5),
              items=["merchant.shop_name"])
    assert consent_early_withdraw(request=user_request, **WEB).action == "early_withdraw"


def test_a_user_moves_early_on_the_page_and_sees_it_on_the_status_page(verified, user_link,
                                                                       user, approved_plan):
    client = verified
    page = _text(client.get(f"/c/{user_link.token}/early"))
    assert "지금 이전을 요청하시겠습니까?" in page
    assert "이용자 전화번호" in page and 'name="notice_hash"' in page
    status_before = _text(client.get(f"/c/{user_link.token}/status"))
    assert "이 링크에서 안내문 열람" in status_before  # the opening was the evidence
    assert "요청하지 않으셨습니다" in status_before
    notice_hash = re.search(r'name="notice_hash" value="([0-9a-f]{64})"', page).group(1)
    response = client.post(f"/c/{user_link.token}/early", {"notice_hash": notice_hash})
    assert response.status_code == 302 and "/receipt/" in response["Location"]
    record = ConsentRecord.objects.get(action="early_request")
    assert record.notice_hash == notice_hash
    receipt = _text(client.get(response["Location"]))
    assert "조기 이전 요청 확인서" in receipt and "접수되었습니다" in receipt
    assert "지금 이전을 요청한 항목" in receipt and "이전해 달라고 요청했습니다" in receipt
    status = _text(client.get(f"/c/{user_link.token}/status"))
    assert "에 요청하셨습니다" in status and "조기 이전 요청 철회하기" in status
    assert "확인서 보기" in status
    assert f'/c/{user_link.token}/early"' not in status  # no second "move now" button
    again = _text(client.get(f"/c/{user_link.token}/early"))
    assert "이미 요청하셨습니다" in again and 'name="notice_hash"' not in again


def test_a_user_withdraws_the_early_request_on_the_page(verified, user_link, user,
                                                        approved_plan):
    client = verified
    client.post(f"/c/{user_link.token}/early")
    confirm = _text(client.get(f"/c/{user_link.token}/early/withdraw"))
    assert "조기 이전 요청을 철회하시겠습니까?" in confirm
    response = client.post(f"/c/{user_link.token}/early/withdraw")
    assert response.status_code == 302 and "/receipt/" in response["Location"]
    assert "조기 이전 요청 철회 확인서" in _text(client.get(response["Location"]))
    status = _text(client.get(f"/c/{user_link.token}/status"))
    assert "요청을 철회하셨습니다" in status and "지금 이전하기" in status
    assert SubjectConsentState.objects.get(plan=approved_plan,
                                           subject=user).early_requested_at is None


def test_after_a_release_the_page_says_the_data_moved_and_offers_objection(
        verified, user_link, approved_plan):
    client = verified
    client.post(f"/c/{user_link.token}/early")
    requested = ConsentRecord.objects.get(action="early_request")
    _released(approved_plan, at=requested.created_at + dt.timedelta(minutes=5))
    status = _text(client.get(f"/c/{user_link.token}/status"))
    assert "이전되었습니다" in status and "조기 이전 요청 철회하기" not in status
    page = _text(client.get(f"/c/{user_link.token}/early/withdraw"))
    assert "이미 새 운영사로 이전되어" in page and f"/c/{user_link.token}/object" in page
    response = client.post(f"/c/{user_link.token}/early/withdraw")
    assert response.status_code == 409
    assert "이미 새 운영사로 이전되어" in _text(response)
    assert f'href="/c/{user_link.token}/object"' in _text(response)


def test_the_status_page_says_how_and_when_the_notice_reached_the_user(client, user,
                                                                       user_request,
                                                                       approved_plan):
    from tests.history import notified_long_ago

    notified_long_ago(approved_plan, [user], days=3, channel="operator")
    link = link_issue(request=user_request)
    client.get(f"/c/{link.token}")  # a later opening adds evidence; the earliest counts
    client.post(f"/c/{link.token}", {"answer": USER_PHONE_LAST4})
    status = _text(client.get(f"/c/{link.token}/status"))
    reached = timezone.localtime(timezone.now() - dt.timedelta(days=3))
    assert "기존 운영사의 안내 (앱 공지·우편)" in status
    assert reached.strftime("%Y년 ") in status
    ends = timezone.localtime(reached + dt.timedelta(days=approved_plan.notice_period_days))
    assert f"{ends.year}년 {ends.month}월 {ends.day}일" in status and "이후" in status


def test_an_objection_on_the_status_page_wins_over_the_early_request(verified, user_link):
    client = verified
    client.post(f"/c/{user_link.token}/early")
    client.post(f"/c/{user_link.token}/object")
    status = _text(client.get(f"/c/{user_link.token}/status"))
    assert "이전을 거부하셨으므로" in status and "거부하셨습니다" in status
    assert "조기 이전 요청 철회하기" not in status and "이전 거부하기" not in status


def test_a_merchant_moves_its_art27_items_early(client, officer, second_officer,
                                                outgoing_operator, incoming_operator,
                                                field_catalogue, merchant):
    from governance.models import FieldRule
    from governance.seoul import PLAN_VALUES, seoul_plan_rules
    from governance.services import plan_approve, plan_create, plan_submit
    from tests.consent.conftest import MERCHANT_BRN, _campaign

    rules = [(f, FieldRule.Basis.NOTICE_OPT_OUT if f.key == "merchant.email" else basis, req)
             for f, basis, req in seoul_plan_rules(field_catalogue)]
    now = timezone.now()
    plan = plan_create(by=officer, from_operator=outgoing_operator.operator,
                       to_operator=incoming_operator.operator, rules=rules,
                       notice_starts_at=now, cutover_at=now + dt.timedelta(days=31),
                       **PLAN_VALUES)
    plan_submit(plan=plan, by=officer)
    plan = plan_approve(plan=plan, by=second_officer)
    link = link_issue(request=make_request(_campaign(plan, "merchant"), merchant))
    client.get(f"/c/{link.token}")
    client.post(f"/c/{link.token}", {"answer": MERCHANT_BRN})
    assert "지금 이전하기" in _text(client.get(f"/c/{link.token}/notice"))
    response = client.post(f"/c/{link.token}/early")
    assert response.status_code == 302
    record = ConsentRecord.objects.get(action="early_request")
    assert record.items_agreed == ["merchant.email"] and record.identity_factor == "brn"
    assert _decisions(plan, merchant)["merchant.email"].reason == Reason.ALLOWED_EARLY_REQUEST


def test_an_early_mover_is_in_the_next_release_and_then_cannot_withdraw(
        client, user_campaign, approved_plan, incoming_operator):
    """End to end with a real release: nothing before the request, the user's Art. 27 items
    in the release after it, and the page refuses the withdrawal afterwards."""
    from audit.signing import service_public_key_bytes
    from tests.transfers.conftest import upload_rows
    from tests.transfers.reader import read_release_dir
    from transfers import synthetic
    from transfers.services import release_export, release_path, release_request

    def carried() -> dict[str, set[str]]:
        release = release_export(release_id=release_request(
            plan=approved_plan, by=("operator", "operator:SHINHAN")).pk)
        _, records = read_release_dir(release_path(release), incoming_operator.hpke_private_key,
                                      service_public_key_bytes())
        return {r["external_id"]: set(r["fields"]) for r in records}

    upload_rows(approved_plan, [synthetic.user_row(2)])
    subject = DataSubject.objects.get(external_id="U-0000002")
    link = link_issue(request=make_request(user_campaign, subject))
    client.get(f"/c/{link.token}")  # reads the notice: the period starts, nothing moves yet
    assert not set(NOTICE_ITEMS) & carried().get("U-0000002", set())

    client.post(f"/c/{link.token}", {"answer": USER_PHONE_LAST4})
    client.post(f"/c/{link.token}/early")
    assert set(NOTICE_ITEMS) <= carried()["U-0000002"]

    response = client.post(f"/c/{link.token}/early/withdraw")
    assert response.status_code == 409 and "이미 새 운영사로 이전되어" in _text(response)
    assert SubjectConsentState.objects.get(plan=approved_plan,
                                           subject=subject).early_requested_at is not None
