"""The Art. 27 notice on the landing page of a personal link: readable without the identity
check, and its first showing is evidence that the notice reached the subject."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import ConsentRecord, ConsentRequest
from consent.tokens import link_issue
from core.cache import clear_all
from governance.models import FieldRule, NoticeEvidence, SubjectNotice, TransferPlan
from governance.policy import Reason
from governance.selectors import plan_decisions
from tests.consent.conftest import MERCHANT_BRN, USER_PHONE_LAST4, _campaign, make_request

pytestmark = pytest.mark.django_db

USER_NOTICE_ITEMS = ("user.phone", "user.name", "user.certificate_balance")


def _text(response) -> str:
    return response.content.decode()


@pytest.fixture
def merchant_notice_plan(officer, second_officer, outgoing_operator, incoming_operator,
                         field_catalogue):
    """A plan that moves merchants' e-mail on notice (Art. 27) instead of consent."""
    from governance.seoul import PLAN_VALUES, seoul_plan_rules
    from governance.services import plan_approve, plan_create, plan_submit

    rules = [(field, FieldRule.Basis.NOTICE_OPT_OUT if field.key == "merchant.email" else basis,
              required) for field, basis, required in seoul_plan_rules(field_catalogue)]
    now = timezone.now()
    plan = plan_create(by=officer, from_operator=outgoing_operator.operator,
                       to_operator=incoming_operator.operator, rules=rules,
                       notice_starts_at=now, cutover_at=now + dt.timedelta(days=31),
                       **PLAN_VALUES)
    plan_submit(plan=plan, by=officer)
    return plan_approve(plan=plan, by=second_officer)


def test_a_user_reads_the_transfer_notice_without_the_identity_check(client, user_link,
                                                                      user_request):
    page = client.get(f"/c/{user_link.token}")
    assert page.status_code == 200
    html = _text(page)
    assert "영업양도 등에 따른 개인정보 이전 안내 (개인정보 보호법 제27조)" in html
    assert "1. 개인정보를 이전받는 자: 신한카드 컨소시엄" in html
    assert "이용자 전화번호, 이용자 이름, 상품권 잔액" in html
    assert "4. 이전을 원하지 않는 경우" in html
    assert "본인 확인 없이 읽으실 수 있습니다" in html
    # The identity check is there, for acting only.
    assert "휴대전화 번호 뒤 4자리" in html and "지금 이전하기" in html
    user_request.refresh_from_db()
    assert user_request.verified_at is None and not ConsentRecord.objects.exists()


def test_opening_the_notice_is_evidence_that_it_reached_the_user(client, user_link, user,
                                                                 user_request, approved_plan):
    before = {ref.id: d for ref, d in plan_decisions(approved_plan, now=timezone.now(),
                                                       subject_ids=[user.pk])}[user.pk]
    assert before["user.name"].reason == Reason.DENIED_NOT_NOTIFIED

    client.get(f"/c/{user_link.token}")

    user_request.refresh_from_db()
    piece = NoticeEvidence.objects.get(subject=user)
    assert piece.channel == "link" and piece.reference == str(user_request.public_id)
    assert piece.notified_at == user_request.opened_at
    assert piece.recorded_by == f"subject:{user.public_id}"
    assert SubjectNotice.objects.get(lineage=approved_plan.lineage,
                                     subject=user).notified_at == user_request.opened_at
    event = AuditEvent.objects.get(action="notice.evidence_recorded")
    assert event.actor_id == f"subject:{user.public_id}"
    assert event.details["channel"] == "link"
    opened = AuditEvent.objects.get(action="consent.link_opened")
    assert opened.details["notice_shown"]  # the hash of the notice text it showed
    # The user's own notice period now runs from that opening.
    after = {ref.id: d for ref, d in plan_decisions(approved_plan, now=timezone.now(),
                                                      subject_ids=[user.pk])}[user.pk]
    assert after["user.name"].reason == Reason.DENIED_NOTICE_PERIOD
    later = timezone.now() + dt.timedelta(days=approved_plan.notice_period_days, minutes=1)
    assert {ref.id: d for ref, d in plan_decisions(approved_plan, now=later,
                                                     subject_ids=[user.pk])}[user.pk][
        "user.name"].reason == Reason.ALLOWED_NOTICE_ELAPSED


def test_the_evidence_is_recorded_once_however_often_the_link_opens(client, user_link,
                                                                    user_request):
    second_link = link_issue(request=user_request)  # a reminder's fresh link
    for token in (user_link.token, user_link.token, second_link.token):
        assert client.get(f"/c/{token}").status_code == 200
    assert NoticeEvidence.objects.count() == 1
    assert AuditEvent.objects.filter(action="notice.evidence_recorded").count() == 1
    assert AuditEvent.objects.filter(action="consent.link_opened").count() == 1


def test_a_page_that_shows_no_transfer_notice_records_no_evidence(client, merchant_link,
                                                                  merchant_request):
    html = _text(client.get(f"/c/{merchant_link.token}"))
    assert "제27조" not in html and "사업자등록번호" in html
    merchant_request.refresh_from_db()
    assert merchant_request.opened_at is not None
    assert not NoticeEvidence.objects.exists() and not SubjectNotice.objects.exists()


def test_a_plan_no_longer_in_force_shows_no_notice_and_records_nothing(client, user_link,
                                                                        approved_plan):
    TransferPlan.objects.filter(pk=approved_plan.pk).update(status=TransferPlan.Status.CANCELLED)
    clear_all()
    html = _text(client.get(f"/c/{user_link.token}"))
    assert "제27조" not in html and "휴대전화 번호 뒤 4자리" in html
    assert not NoticeEvidence.objects.exists()


def test_a_merchant_sees_its_art27_items_before_the_check(client, merchant_notice_plan,
                                                          merchant):
    request = make_request(_campaign(merchant_notice_plan, "merchant"), merchant)
    link = link_issue(request=request)
    html = _text(client.get(f"/c/{link.token}"))
    assert "제27조" in html and "2. 이전되는 개인정보 항목: 이메일" in html
    assert "사업자등록번호 (10자리)" in html and "동의 여부 응답" in html
    assert NoticeEvidence.objects.get(subject=merchant).channel == "link"


def test_a_wrong_answer_keeps_the_notice_on_the_page(client, user_link):
    response = client.post(f"/c/{user_link.token}", {"answer": "0000"
                                                     if USER_PHONE_LAST4 != "0000" else "1111"})
    assert response.status_code == 400
    html = _text(response)
    assert "일치하지 않습니다" in html and "제27조" in html and 'aria-invalid="true"' in html


def test_acting_on_the_notice_needs_the_identity_check(client, user_link):
    client.get(f"/c/{user_link.token}")
    for step in ("early", "object", "early/withdraw", "status"):
        response = client.get(f"/c/{user_link.token}/{step}")
        assert response.status_code == 302 and response["Location"] == f"/c/{user_link.token}"
    for step in ("early", "object", "early/withdraw"):
        response = client.post(f"/c/{user_link.token}/{step}")
        assert response.status_code == 302 and response["Location"] == f"/c/{user_link.token}"
    assert not ConsentRecord.objects.exists()


def test_a_verified_visitor_goes_on_and_the_next_page_shows_the_notice_too(client, user_link,
                                                                          user_request):
    client.post(f"/c/{user_link.token}", {"answer": USER_PHONE_LAST4})
    response = client.get(f"/c/{user_link.token}")
    assert response.status_code == 302
    html = _text(client.get(response["Location"]))
    assert "제27조" in html and "지금 이전하기" in html
    user_request.refresh_from_db()
    assert user_request.status == ConsentRequest.Status.VERIFIED


def test_the_shared_copy_of_the_landing_follows_the_notice_text(client, user_link,
                                                                field_catalogue,
                                                                merchant_link):
    from consent.views.page_cache import copies

    copies.clear()
    assert "이용자 이름" in _text(client.get(f"/c/{user_link.token}"))
    field = field_catalogue["user.name"]
    field.label_ko = "이용자 성명"
    field.save()
    clear_all()  # what PAGE_SECONDS of waiting does
    html = _text(client.get(f"/c/{user_link.token}"))
    assert "이용자 성명" in html and "이용자 이름" not in html
    # A merchant's consent-only landing is another copy, without the users' notice.
    assert "제27조" not in _text(client.get(f"/c/{merchant_link.token}"))
    assert "\x00" not in html


def test_a_repeat_visit_to_the_notice_landing_is_one_query(client, user_link,
                                                           django_assert_num_queries):
    client.get(f"/c/{user_link.token}")  # the first opening writes (and records evidence)
    with django_assert_num_queries(1):
        html = _text(client.get(f"/c/{user_link.token}"))
    assert "제27조" in html


def test_the_merchant_answer_still_needs_the_business_number(client, merchant_notice_plan,
                                                            merchant):
    request = make_request(_campaign(merchant_notice_plan, "merchant"), merchant)
    link = link_issue(request=request)
    client.get(f"/c/{link.token}")
    assert client.get(f"/c/{link.token}/notice").status_code == 302
    response = client.post(f"/c/{link.token}", {"answer": MERCHANT_BRN})
    assert response.status_code == 302 and response["Location"].endswith("/notice")


@pytest.mark.parametrize(("then", "step"), [("early", "/early"), ("object", "/object"),
                                            ("", "/notice"), ("../admin", "/notice")])
def test_the_buttons_under_the_notice_lead_on_once_the_identity_is_checked(client, user_link,
                                                                           then, step):
    response = client.post(f"/c/{user_link.token}", {"answer": USER_PHONE_LAST4, "then": then})
    assert response.status_code == 302
    assert response["Location"] == f"/c/{user_link.token}{step}"


def test_a_button_for_the_notice_means_nothing_on_a_consent_only_link(client, merchant_link):
    response = client.post(f"/c/{merchant_link.token}", {"answer": MERCHANT_BRN,
                                                         "then": "early"})
    assert response["Location"] == f"/c/{merchant_link.token}/notice"
