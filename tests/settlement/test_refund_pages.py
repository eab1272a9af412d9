"""Where people meet refunds: the user's page (from the consent status page), the officer's
form for a call, and the dashboard card."""

from __future__ import annotations

import pytest

from governance.seoul import synthetic_phone
from settlement.models import RefundCase
from tests.consent.conftest import _campaign, make_request
from tests.settlement.conftest import object_to, refund_for
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_page_caches():
    """The consent page caches plans per process by primary key, which the next test's
    database reuses for another plan: start each test with none (as tests/consent does)."""
    from django.core.cache import cache

    from core.cache import clear_all

    for clear in (cache.clear, clear_all):
        clear()


@pytest.fixture
def user_link(approved_plan, users):
    """The first user's open link (balance 1,000 won), for the users' campaign."""
    from consent.tokens import link_issue

    return link_issue(request=make_request(_campaign(approved_plan, "user"), users[0]))


def _verified(client, link):
    response = client.post(f"/c/{link.token}", {"answer": synthetic_phone(1)[-4:]})
    assert response.status_code == 302, response.content
    return client


def test_an_objector_finds_the_refund_on_the_status_page_and_asks_for_it(
        client, approved_plan, users, user_link):
    object_to(approved_plan, users[0])
    _verified(client, user_link)

    status = client.get(f"/c/{user_link.token}/status").content.decode()
    page = client.get(f"/c/{user_link.token}/refund").content.decode()
    asked = client.post(f"/c/{user_link.token}/refund")
    after = client.get(asked["Location"]).content.decode()

    assert f"/c/{user_link.token}/refund" in status
    assert "1,000원" in page and "잔액 환불 요청하기" in page
    assert asked.status_code == 302
    case = RefundCase.objects.get()
    assert (case.subject, case.amount, case.channel) == (users[0], 1_000, "web")
    assert "1,000원 환불을 요청하셨습니다" in after and "이전되지 않습니다" in after


def test_a_user_who_has_not_objected_is_sent_to_object_first(
        client, approved_plan, users, user_link):
    _verified(client, user_link)

    status = client.get(f"/c/{user_link.token}/status").content.decode()
    page = client.get(f"/c/{user_link.token}/refund").content.decode()
    refused = client.post(f"/c/{user_link.token}/refund")

    assert "/refund" not in status
    assert "먼저 이전을 거부해 주세요" in page and f"/c/{user_link.token}/object" in page
    assert refused.status_code == 409 and not RefundCase.objects.exists()


def test_the_refund_page_needs_the_identity_check(client, approved_plan, users, user_link):
    object_to(approved_plan, users[0])

    response = client.post(f"/c/{user_link.token}/refund")

    assert response.status_code == 302 and response["Location"] == f"/c/{user_link.token}"
    assert not RefundCase.objects.exists()


def test_an_officer_records_a_refund_asked_by_phone(client, officer, approved_plan, users):
    object_to(approved_plan, users[3])
    login_verified(client, officer)

    form = client.get("/admin/settlement/refundcase/phone/")
    response = client.post("/admin/settlement/refundcase/phone/", {
        "plan": approved_plan.pk, "external_id": users[3].external_id,
        "reason": "본인 통화, 잔액 환불 원함"})

    assert form.status_code == 200
    assert response.status_code == 302, response.content.decode()[:2000]
    case = RefundCase.objects.get()
    assert (case.subject, case.amount, case.channel, case.officer) == (
        users[3], 4_000, "phone", officer)


def test_the_officers_form_shows_why_a_refund_is_refused(client, officer, approved_plan, users):
    login_verified(client, officer)

    response = client.post("/admin/settlement/refundcase/phone/", {
        "plan": approved_plan.pk, "external_id": users[3].external_id, "reason": "전화"})

    assert response.status_code == 200
    assert "먼저 이전을 거부하셔야" in response.content.decode()
    assert not RefundCase.objects.exists()


def test_a_reviewer_cannot_record_a_refund(client, commission_reviewer, approved_plan, users):
    object_to(approved_plan, users[3])
    login_verified(client, commission_reviewer)

    response = client.post("/admin/settlement/refundcase/phone/", {
        "plan": approved_plan.pk, "external_id": users[3].external_id, "reason": "전화"})

    assert response.status_code == 403 and not RefundCase.objects.exists()


def test_the_dashboard_shows_open_refunds_with_the_oldest_age(client, officer, approved_plan,
                                                              users):
    import datetime as dt

    from django.utils import timezone

    old = refund_for(approved_plan, users[0])
    refund_for(approved_plan, users[1])
    RefundCase.objects.filter(pk=old.pk).update(
        requested_at=timezone.now() - dt.timedelta(days=9))
    login_verified(client, officer)

    html = client.get("/admin/dashboard/").content.decode()

    card = html[html.index('id="review-refunds"'):]
    card = card[:card.index("</div>")]
    assert "<strong class=\"alert\">2</strong>" in card
    assert "3,000원" in card and "가장 오래된 건 9일" in card


def test_a_staff_member_without_a_role_cannot_record_a_refund(client, clerk, approved_plan,
                                                             users):
    object_to(approved_plan, users[3])
    login_verified(client, clerk)

    form = client.get("/admin/settlement/refundcase/phone/")
    response = client.post("/admin/settlement/refundcase/phone/", {
        "plan": approved_plan.pk, "external_id": users[3].external_id, "reason": "전화"})

    assert form.status_code == 403 and response.status_code == 403
    assert users[3].external_id not in response.content.decode()
    assert not RefundCase.objects.exists()
