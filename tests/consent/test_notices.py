"""consent.notices: the Art. 17(2) and Art. 27 notices rendered from a plan, versioned."""

from __future__ import annotations

import hashlib

import pytest

from consent.models import Notice
from consent.notices import notice_current, notice_items
from core.cache import clear_all

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_all()
    yield
    clear_all()


def test_the_consent_notice_states_the_five_items_of_article_17(approved_plan):
    notice = notice_current(plan=approved_plan, subject_kind="merchant", kind="consent")
    text = notice.text
    assert "제17조제2항" in text
    assert "1. 제공받는 자: 신한카드 컨소시엄" in text
    assert f"2. 제공받는 자의 이용 목적: {approved_plan.purpose}" in text
    assert "   - 필수: 정산 계좌" in text
    assert "   - 선택: 이메일\n" in text
    assert f"4. 제공받는 자의 보유·이용 기간: {approved_plan.retention}" in text
    assert "거부할 권리가 있으며" in text
    assert "선택 항목은 동의하지 않으셔도 아무런 불이익이 없습니다" in text
    assert "필수 항목(정산 계좌)에 동의하지 않으시면" in text
    # Only consent items: Art. 27 items and items moving on other grounds are not in it.
    assert "대표자명" not in text and "이용자 전화번호" not in text
    # Marketing opt-in is never provided, so never asked: the recipient asks afresh.
    assert "마케팅" not in text
    assert notice.items == ["merchant.settlement_bank_account", "merchant.email"]


@pytest.mark.parametrize("subject_kind, kind", [("merchant", "consent"), ("user", "transfer")])
def test_both_notices_name_the_city_as_controller_and_the_operators_as_its_processors(
        approved_plan, subject_kind, kind):
    text = notice_current(plan=approved_plan, subject_kind=subject_kind, kind=kind).text
    assert ("- 개인정보처리자: 서울특별시 (개인정보 보호책임자: 서울특별시 개인정보 보호책임자"
            in text)
    assert ("- 현재 운영사: 한국간편결제진흥원 (서울특별시의 위탁을 받아 처리하는 수탁자)"
            in text)
    assert "- 새 운영사: 신한카드 컨소시엄 (서울특별시의 위탁을 받아 처리하는 수탁자)" in text
    # The items of these notices are the outgoing operator's own (the catalogue says so).
    assert "한국간편결제진흥원이 자체 서비스를 위해 직접 받아" in text and "이(가)" not in text
    assert "제공자" not in text and "provider" not in text.lower()


def test_the_transfer_notice_says_who_receives_what_moves_and_how_to_object(approved_plan):
    notice = notice_current(plan=approved_plan, subject_kind="user", kind="transfer")
    text = notice.text
    assert "제27조" in text
    assert "이전받는 자: 신한카드 컨소시엄" in text
    assert "이용자 전화번호, 이용자 이름, 상품권 잔액" in text
    assert "[이전 거부]" in text
    assert "이전을 거부하시면 위 항목은 신한카드 컨소시엄에 이전되지 않으며" in text
    assert "구매 내역" not in text  # a consent item belongs to the other notice
    assert notice.kind == Notice.Kind.TRANSFER


def test_the_stored_hash_is_the_sha256_of_the_exact_text(approved_plan):
    notice = notice_current(plan=approved_plan, subject_kind="merchant", kind="consent")
    assert notice.text_hash == hashlib.sha256(notice.text.encode("utf-8")).hexdigest()


def test_the_same_text_is_the_same_version(approved_plan):
    first = notice_current(plan=approved_plan, subject_kind="merchant", kind="consent")
    again = notice_current(plan=approved_plan, subject_kind="merchant", kind="consent")
    assert again.pk == first.pk and again.version == 1
    assert Notice.objects.count() == 1


def test_a_changed_text_becomes_the_next_version(approved_plan, field_catalogue, settings):
    first = notice_current(plan=approved_plan, subject_kind="merchant", kind="consent")
    field = field_catalogue["merchant.email"]
    field.label_ko = "전자우편 주소"
    field.save()
    second = notice_current(plan=approved_plan, subject_kind="merchant", kind="consent")
    assert second.version == 2 and second.text_hash != first.text_hash
    assert "전자우편 주소" in second.text
    # The old version stays as it was: records point at it.
    first.refresh_from_db()
    assert "전자우편 주소" not in first.text


def test_a_lost_race_reads_the_winners_row(approved_plan):
    from consent.notices import render, text_hash

    text, items = render(plan=approved_plan, subject_kind="merchant", kind="consent")
    winner = Notice.objects.create(plan=approved_plan, subject_kind="merchant", kind="consent",
                                   version=1, text=text, text_hash=text_hash(text),
                                   items=[i.key for i in items])
    assert notice_current(plan=approved_plan, subject_kind="merchant", kind="consent") == winner


def test_merchant_and_user_notices_are_versioned_apart(approved_plan):
    merchant = notice_current(plan=approved_plan, subject_kind="merchant", kind="consent")
    user = notice_current(plan=approved_plan, subject_kind="user", kind="consent")
    assert merchant.pk != user.pk and merchant.version == user.version == 1
    assert [i.label for i in notice_items(plan=approved_plan, subject_kind="user",
                                          kind="consent")] == ["구매 내역", "환불 계좌"]


def test_the_page_cache_serves_without_a_query(approved_plan, django_assert_num_queries):
    notice = notice_current(plan=approved_plan, subject_kind="merchant", kind="consent",
                            for_page=True)
    with django_assert_num_queries(0):
        assert notice_current(plan=approved_plan, subject_kind="merchant", kind="consent",
                              for_page=True) == notice
