"""The public privacy page (개인정보 처리방침): what a reviewer reads there, versioned."""

from __future__ import annotations

import hashlib

import pytest

from audit.models import AuditEvent
from governance.models import PrivacyPolicyVersion
from governance.selectors import privacy_page_current
from governance.services import plan_approve, plan_new_version, plan_submit, plan_update

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    return response.content.decode()


def test_anyone_reads_the_privacy_page_without_logging_in(client, approved_plan, city,
                                                          outgoing_operator, incoming_operator):
    response = client.get("/privacy")
    assert response.status_code == 200
    html = _text(response)
    assert '<html lang="ko">' in html and 'name="viewport"' in html
    assert "개인정보 처리방침" in html
    # The controller and its privacy officer.
    assert f"개인정보처리자: {city.name}" in html
    assert city.privacy_officer_name in html and city.privacy_officer_contact in html
    # Each processor and what it does, the incoming one included (Art. 26(2)).
    assert f"{outgoing_operator.operator.name}: 위 사업의 운영 업무를 처리하는 현재 수탁자" in html
    assert f"{incoming_operator.operator.name}: 전환 일시" in html
    assert "새 수탁자" in html and "대표자명" in html.split("3. 개인정보 처리의 위탁")[1]
    # The operator's own data, and how it moves: consent (Art. 17) and notice (Art. 27).
    own = html.split("4. 운영사가 직접 관리하는")[1].split("5. 옮기지 않는")[0]
    assert "제17조" in own and "정산 계좌" in own and "제27조" in own and "상품권 잔액" in own
    # What never moves, retention, rights and how to use them, where to complain.
    assert "내부 위험 평가" in html.split("5. 옮기지 않는 개인정보")[1]
    assert approved_plan.retention in html
    rights = html.split("7. 정보주체의 권리와 행사 방법")[1]
    assert "동의 철회" in rights and "/c/" in rights and "콜센터" in rights
    assert "개인정보보호위원회" in html.split("8. 권익침해 구제 방법")[1]


def test_the_page_names_its_version_and_the_hash_of_exactly_its_text(client, approved_plan):
    html = _text(client.get("/privacy"))
    row = PrivacyPolicyVersion.objects.get()
    assert row.text_hash == hashlib.sha256(row.text.encode()).hexdigest()
    assert f"제{row.version}판" in html and row.text_hash in html
    for line in row.text.splitlines():
        if line:
            assert line.replace("&", "&amp;").replace("'", "&#x27;") in html
    ref = privacy_page_current()
    assert (ref.url, ref.version, ref.text_hash) == ("/privacy", row.version, row.text_hash)
    assert ref.permalink == f"/privacy/{row.text_hash}"
    assert PrivacyPolicyVersion.objects.count() == 1  # the same text is the same version
    assert AuditEvent.objects.filter(action="privacy_policy.published").count() == 1


def test_a_changed_plan_publishes_a_new_version_and_the_old_one_stays_readable(
        client, approved_plan, officer, second_officer):
    first = privacy_page_current()
    v2 = plan_new_version(plan=approved_plan, by=officer)
    plan_update(plan=v2, by=officer, retention="전환 후 5년")
    plan_submit(plan=v2, by=officer)
    plan_approve(plan=v2, by=second_officer)
    second = privacy_page_current()
    assert second.version == first.version + 1 and second.text_hash != first.text_hash
    assert "전환 후 5년" in _text(client.get("/privacy"))
    old = client.get(first.permalink)
    assert old.status_code == 200 and "현재 처리방침이 아닙니다" in _text(old)
    assert "전환 후 5년" not in _text(old)
    assert client.get("/privacy/" + "0" * 64).status_code == 404


def test_a_rehearsal_plan_is_not_on_the_privacy_page(client, approved_plan):
    type(approved_plan).objects.filter(pk=approved_plan.pk).update(rehearsal=True)
    html = _text(client.get("/privacy"))
    assert approved_plan.title not in html and "등록된 이전 계획이 없습니다" in html


def test_the_page_only_answers_reads(client, approved_plan):
    assert client.post("/privacy").status_code == 405


def test_the_current_page_is_read_afresh_after_a_plan_changes_what_it_says(
        approved_plan, officer, second_officer):
    first = privacy_page_current()
    assert privacy_page_current() == first  # nothing changed: the same version
    v2 = plan_new_version(plan=approved_plan, by=officer)
    plan_update(plan=v2, by=officer, retention="전환 후 3년")
    plan_submit(plan=v2, by=officer)
    plan_approve(plan=v2, by=second_officer)
    assert privacy_page_current().version == first.version + 1


def test_the_page_reads_as_korean_a_citizen_would_read(client, approved_plan, city,
                                                       outgoing_operator):
    html = _text(client.get("/privacy"))
    kepf = outgoing_operator.operator
    # Particles follow the word ("서울특별시는", "한국간편결제진흥원이"), never "은(는)".
    assert "은(는)" not in html and "이(가)" not in html
    assert f"{city.name}는 아래 사업의" in html
    own = html.split("4. 운영사가 직접 관리하는")[1].split("5. 옮기지 않는")[0]
    # The operator controls its own data: its privacy officer is named where that data is.
    assert f"{kepf.name}이 스스로 개인정보처리자로서 관리합니다" in own
    assert kepf.privacy_officer_name in own and kepf.privacy_officer_contact in own
    # An objector may ask for the balance back instead (issue 16), and the page says so.
    rights = html.split("7. 정보주체의 권리와 행사 방법")[1].split("8. 권익침해")[0]
    assert "상품권 잔액의 환불을 요청" in rights


@pytest.mark.parametrize("word, pair, expected", [
    ("서울특별시", ("은", "는"), "서울특별시는"),
    ("한국간편결제진흥원", ("이", "가"), "한국간편결제진흥원이"),
    ("신한카드 컨소시엄", ("이", "가"), "신한카드 컨소시엄이"),
    ("비즈플레이", ("이", "가"), "비즈플레이가"),
    ("KEPF", ("은", "는"), "KEPF은(는)"),
    ("'서울사랑상품권 이전'", ("은", "는"), "'서울사랑상품권 이전'은"),
    ("「비즈플레이」", ("이", "가"), "「비즈플레이」가"),
    ("", ("이", "가"), "이(가)"),
    ("'서울 이전 v3'", ("은", "는"), "'서울 이전 v3'은"),
    ("'서울 이전 v2'", ("은", "는"), "'서울 이전 v2'는"),
    ("계획 10", ("이", "가"), "계획 10이"),
    ("OO페이(주)", ("이", "가"), "OO페이(주)가"),
])
def test_a_particle_follows_the_last_syllable(word, pair, expected):
    from core.korean import josa

    assert josa(word, *pair) == expected


def test_the_demo_notes_on_what_never_moves_are_korean_only():
    import re

    from governance.seoul import NOT_MOVED_REASONS

    for note in NOT_MOVED_REASONS.values():
        assert not re.search(r"[A-Za-z]{3,}", note), note
