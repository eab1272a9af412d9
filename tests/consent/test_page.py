"""The merchant's page through the Django test client: the whole flow, every bad link,
lockout, withdrawal, objection (users), large text."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Campaign, ConsentLink, ConsentRecord, ConsentRequest
from consent.services.identity import MAX_FAILURES
from consent.tokens import link_issue
from core.cache import clear_all
from governance.models import SubjectConsentState
from governance.seoul import synthetic_brn, synthetic_phone
from tests.consent.conftest import MERCHANT_BRN, USER_PHONE_LAST4

pytestmark = pytest.mark.django_db

ACCOUNT, EMAIL, MARKETING = ("merchant.settlement_bank_account", "merchant.email",
                             "merchant.marketing_opt_in")


@pytest.fixture(autouse=True)
def _fresh_notice_cache():
    clear_all()


def _text(response) -> str:
    return response.content.decode()


def _verify(client, link, answer=MERCHANT_BRN):
    return client.post(f"/c/{link.token}", {"answer": answer})


def _answer(client, link, *, required="agree", email="agree"):
    response = client.post(f"/c/{link.token}/notice", {
        "required": required, f"opt:{EMAIL}": email})
    assert response.status_code == 302, _text(response)
    return client.post(f"/c/{link.token}/confirm")


def test_a_merchant_verifies_agrees_and_gets_a_receipt(client, merchant_link, merchant,
                                                       approved_plan):
    page = client.get(f"/c/{merchant_link.token}")
    assert page.status_code == 200
    html = _text(page)
    assert 'lang="ko"' in html and "사업자등록번호" in html and 'for="answer"' in html
    assert 'name="csrfmiddlewaretoken"' in html

    response = _verify(client, merchant_link)
    assert response.status_code == 302 and response["Location"].endswith("/notice")
    notice = client.get(response["Location"])
    html = _text(notice)
    assert "1. 제공받는 자: 신한카드 컨소시엄" in html
    assert "<legend>필수 항목: 정산 계좌</legend>" in html
    assert "<legend>선택 항목: 이메일</legend>" in html
    assert "동의하지 않으셔도 불이익이 없습니다" in html
    # Marketing opt-in is not asked: the new operator asks for it afresh.
    assert "마케팅 수신 동의" not in html and f'name="opt:{MARKETING}"' not in html

    # A forged answer for it is not taken.
    response = client.post(f"/c/{merchant_link.token}/notice", {
        "required": "agree", f"opt:{EMAIL}": "agree", f"opt:{MARKETING}": "agree"})
    assert response["Location"].endswith("/confirm")
    confirm = _text(client.get(response["Location"]))
    assert "정산 계좌 (필수), 이메일" in confirm
    stays = confirm.split("옮겨지지 않는 항목")[1]
    assert "<strong>마케팅 수신 동의</strong> — 마케팅 수신 동의는 그 동의를 받은" in stays
    assert "새 운영사가 따로 묻는 동의에 답해 주십시오" in stays
    assert not ConsentRecord.objects.exists()  # nothing recorded before confirmation

    response = client.post(f"/c/{merchant_link.token}/confirm")
    assert response.status_code == 302 and "/receipt/" in response["Location"]
    record = ConsentRecord.objects.get()
    assert record.items_agreed == [EMAIL, ACCOUNT] and record.items_declined == []
    assert record.channel == "web" and record.identity_factor == "brn"
    receipt = _text(client.get(response["Location"]))
    assert "접수되었습니다" in receipt and str(record.receipt_id) in receipt
    download = client.get(f"/c/{merchant_link.token}/receipt/{record.receipt_id}.json")
    assert download["Content-Type"].startswith("application/json")
    assert download["Content-Disposition"].startswith("attachment;")
    assert json.loads(download.content)["receipt"]["consentReceiptID"] == str(record.receipt_id)
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=merchant)
    assert state.fields_granted == [EMAIL, ACCOUNT]


def test_the_page_never_shows_the_phone_or_the_business_number(client, merchant_link,
                                                                merchant):
    _verify(client, merchant_link)
    _answer(client, merchant_link)
    record = ConsentRecord.objects.get()
    pages = [client.get(f"/c/{merchant_link.token}/{p}") for p in ("notice", "status")]
    pages.append(client.get(f"/c/{merchant_link.token}/receipt/{record.receipt_id}"))
    pages.append(client.get(f"/c/{merchant_link.token}/receipt/{record.receipt_id}.json"))
    digits = re.sub(r"\D", "", MERCHANT_BRN)
    for page in pages:
        body = re.sub(r"\D", "", page.content.decode())
        assert digits not in body
        assert re.sub(r"\D", "", synthetic_phone(1)) not in body


def test_opening_the_link_marks_the_request_once(client, merchant_link, merchant_request):
    client.get(f"/c/{merchant_link.token}")
    client.get(f"/c/{merchant_link.token}")
    merchant_request.refresh_from_db()
    assert merchant_request.status == ConsentRequest.Status.OPENED
    assert merchant_request.opened_at is not None
    assert AuditEvent.objects.filter(action="consent.link_opened").count() == 1


def test_a_later_visit_shows_the_decision_and_withdrawal_is_as_easy(client, merchant_link,
                                                                   approved_plan, merchant):
    _verify(client, merchant_link)
    _answer(client, merchant_link)
    later = client.get(f"/c/{merchant_link.token}")
    assert later["Location"].endswith("/status")
    status = _text(client.get(later["Location"]))
    assert "동의 철회하기" in status and "확인서 보기" in status
    assert "동의한 항목</dt>\n  <dd>정산 계좌 (필수), 이메일" in status
    # Consenting took: notice (choose) -> confirm (press). Withdrawing: status -> press.
    confirm = client.get(f"/c/{merchant_link.token}/withdraw")
    assert "정산 계좌" in _text(confirm)
    response = client.post(f"/c/{merchant_link.token}/withdraw")
    assert response.status_code == 302 and "/receipt/" in response["Location"]
    assert ConsentRecord.objects.filter(action="withdraw").count() == 1
    state = SubjectConsentState.objects.get(plan=approved_plan, subject=merchant)
    assert state.withdrawn_at is not None and state.fields_granted == []
    status = _text(client.get(f"/c/{merchant_link.token}/status"))
    assert "동의를 철회하셨습니다" in status and "동의 철회하기" not in status
    # ... and agreeing again later is a new record.
    _answer(client, merchant_link, required="agree", email="decline")
    assert ConsentRecord.objects.filter(action="answer").count() == 2


def test_a_new_visit_needs_the_identity_check_again(client, merchant_link, settings):
    _verify(client, merchant_link)
    assert client.get(f"/c/{merchant_link.token}/notice").status_code == 200
    client.cookies.clear()
    response = client.get(f"/c/{merchant_link.token}/notice")
    assert response.status_code == 302 and response["Location"] == f"/c/{merchant_link.token}"


def test_the_verified_state_is_bound_to_its_request(client, merchant_link, merchant_campaign,
                                                    outgoing_operator):
    from governance.services import subjects_upsert
    from tests.consent.conftest import make_request

    ids = subjects_upsert(operator=outgoing_operator.operator, kind="merchant", by=None,
                          rows=[{"external_id": "M-000002", "phone": synthetic_phone(3),
                                 "brn": synthetic_brn(2)}]).ids
    from governance.models import DataSubject

    other = link_issue(request=make_request(merchant_campaign,
                                            DataSubject.objects.get(pk=ids["M-000002"])))
    _verify(client, merchant_link)
    response = client.get(f"/c/{other.token}/notice")
    assert response.status_code == 302 and response["Location"] == f"/c/{other.token}"


def test_the_verified_state_expires(client, merchant_link, monkeypatch):
    import time as real_time

    _verify(client, merchant_link)
    later = real_time.time() + 16 * 60
    monkeypatch.setattr("consent.views.links.time.time", lambda: later)
    assert client.get(f"/c/{merchant_link.token}/notice").status_code == 302


def test_an_unanswered_item_is_asked_again_not_guessed(client, merchant_link):
    _verify(client, merchant_link)
    response = client.post(f"/c/{merchant_link.token}/notice", {"required": "agree"})
    assert response.status_code == 400
    html = _text(response)
    assert 'role="alert"' in html and "선택해 주세요: 이메일<" in html
    # what was chosen stays chosen
    assert re.search(r'name="required" value="agree" aria-describedby="required-hint" '
                     r'checked>', html)


def test_a_wrong_number_is_refused_without_detail_and_locks_after_five(client, merchant_link,
                                                                       merchant_request):
    response = _verify(client, merchant_link, answer=synthetic_brn(7))
    assert response.status_code == 400
    assert "일치하지 않습니다" in _text(response) and 'aria-invalid="true"' in _text(response)
    for _ in range(MAX_FAILURES - 2):
        _verify(client, merchant_link, answer="12")
    response = _verify(client, merchant_link, answer="12")
    assert response.status_code == 403 and "잠시 잠겼습니다" in _text(response)
    # The right number does not open a locked request either.
    assert _verify(client, merchant_link).status_code == 403
    assert client.get(f"/c/{merchant_link.token}/notice").status_code == 302
    merchant_request.refresh_from_db()
    assert merchant_request.locked_until > timezone.now()
    assert AuditEvent.objects.filter(action="consent.identity_locked").count() == 1


def test_too_many_attempts_from_one_address_get_429(client, merchant_link, settings):
    settings.CONSENT_VERIFY_RATE = "2/m"
    _verify(client, merchant_link, answer="1")
    _verify(client, merchant_link, answer="1")
    assert _verify(client, merchant_link).status_code == 429


def _bad_link_kinds(merchant_link, merchant_request):
    """Every kind of link that must get the one bad-link page."""
    token = merchant_link.token
    expired = link_issue(request=merchant_request)
    ConsentLink.objects.filter(pk=expired.link.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    revoked = link_issue(request=merchant_request)
    ConsentLink.objects.filter(pk=revoked.link.pk).update(revoked_at=timezone.now())
    return {
        "random": secrets.token_urlsafe(16),
        "truncated": token[:-1],
        "extended": token + "A",
        "tampered": ("B" if token[0] != "B" else "C") + token[1:],
        "bad characters": "../" + token[3:],
        "expired": expired.token,
        "revoked": revoked.token,
    }


def test_every_bad_link_gets_the_same_page_and_status(client, merchant_link, merchant_request):
    kinds = _bad_link_kinds(merchant_link, merchant_request)
    bodies = set()
    for kind, token in kinds.items():
        response = client.get(f"/c/{token}")
        assert response.status_code == 404, kind
        html = _text(response)
        assert "이 링크로는 안내를 열 수 없습니다" in html and "02-120" in html, kind
        assert "Traceback" not in html
        bodies.add(re.sub(r'href="[^"]*"', "", html))
    assert len(bodies) == 1  # byte-identical apart from the toggle link's own address
    merchant_request.refresh_from_db()
    assert merchant_request.opened_at is None  # none of them counted as opening the link


def test_the_bad_link_page_offers_a_new_link_and_c_without_a_token_asks_for_the_number(
        client):
    page = _text(client.get(f"/c/{secrets.token_urlsafe(16)}"))
    assert "새 링크 받기" in page and 'href="/c/"' in page
    start = client.get("/c/")
    assert start.status_code == 200 and "휴대전화 번호" in _text(start)


def test_bad_links_get_the_same_page_on_every_step(client, merchant_link, merchant_request):
    for token in (secrets.token_urlsafe(16), "x"):
        for step in ("notice", "confirm", "status", "withdraw", "object",
                     "receipt/00000000-0000-0000-0000-000000000000", "anything/else"):
            assert client.get(f"/c/{token}/{step}").status_code == 404
            assert client.post(f"/c/{token}/{step}").status_code in (403, 404)


@pytest.mark.parametrize("closure", ["expired request", "cancelled request",
                                     "cancelled campaign"])
def test_a_closed_request_gets_the_bad_link_page(client, merchant_link, merchant_request,
                                                 closure):
    if closure == "expired request":
        ConsentRequest.objects.filter(pk=merchant_request.pk).update(status="expired")
    elif closure == "cancelled request":
        ConsentRequest.objects.filter(pk=merchant_request.pk).update(status="cancelled")
    else:
        Campaign.objects.filter(pk=merchant_request.campaign_id).update(status="cancelled")
    response = client.get(f"/c/{merchant_link.token}")
    assert response.status_code == 404 and "이 링크로는 안내를 열 수 없습니다" in _text(response)


def test_a_receipt_of_another_subject_is_not_shown(client, merchant_link, user_request):
    from consent.services.decisions import consent_object

    foreign = consent_object(request=user_request, channel="web", identity_factor="phone_last4")
    _verify(client, merchant_link)
    assert client.get(f"/c/{merchant_link.token}/receipt/{foreign.receipt_id}").status_code == 404
    assert client.get(
        f"/c/{merchant_link.token}/receipt/{foreign.receipt_id}.json").status_code == 404


def test_a_user_verifies_with_the_phone_digits_and_objects(client, user_link, user,
                                                          approved_plan):
    page = _text(client.get(f"/c/{user_link.token}"))
    assert "휴대전화 번호 뒤 4자리" in page
    response = _verify(client, user_link, answer=USER_PHONE_LAST4)
    assert response.status_code == 302
    notice = _text(client.get(f"/c/{user_link.token}/notice"))
    assert "제27조" in notice and "이전 거부하기" in notice and "제17조제2항" in notice
    assert "이전을 거부하시면" in _text(client.get(f"/c/{user_link.token}/object"))
    response = client.post(f"/c/{user_link.token}/object")
    assert response.status_code == 302 and "/receipt/" in response["Location"]
    record = ConsentRecord.objects.get(action="object")
    assert record.identity_factor == "phone_last4" and record.notice.kind == "transfer"
    assert SubjectConsentState.objects.get(plan=approved_plan, subject=user).objected
    status = _text(client.get(f"/c/{user_link.token}/status"))
    assert "거부하셨습니다" in status and "이전 거부하기" not in status


def test_a_changed_notice_between_reading_and_confirming_asks_to_read_again(
        client, merchant_link, field_catalogue):
    _verify(client, merchant_link)
    client.post(f"/c/{merchant_link.token}/notice", {
        "required": "agree", f"opt:{EMAIL}": "agree"})
    field = field_catalogue["merchant.email"]
    field.label_ko = "전자우편"
    field.save()
    response = client.post(f"/c/{merchant_link.token}/confirm")
    assert response.status_code == 409 and "안내문이 변경되었습니다" in _text(response)
    assert not ConsentRecord.objects.exists()


def test_the_forms_need_a_csrf_token(merchant_link):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(f"/c/{merchant_link.token}", {"answer": MERCHANT_BRN})
    assert response.status_code == 403
    assert "02-120" in _text(response)


def test_large_text_mode_is_a_link_and_a_cookie(client, merchant_link):
    page = _text(client.get(f"/c/{merchant_link.token}"))
    assert "큰 글씨로 보기" in page and 'class="large-text"' not in page
    toggle = re.search(r'href="(/c/text-size[^"]+)"', page).group(1).replace("&amp;", "&")
    response = client.get(toggle)
    assert response.status_code == 302 and response["Location"] == f"/c/{merchant_link.token}"
    page = _text(client.get(f"/c/{merchant_link.token}"))
    assert 'class="large-text"' in page and "보통 글씨로 보기" in page
    assert 'class="large-text"' in _text(client.get(f"/c/{merchant_link.token}?text=large",
                                                    HTTP_COOKIE=""))


def test_the_text_toggle_never_redirects_elsewhere(client):
    for target in ("https://evil.example/c/x", "//evil.example/c/", "/admin/"):
        response = client.get("/c/text-size", {"size": "large", "next": target})
        assert response["Location"] == "/"


def test_the_notice_text_is_public_by_its_hash(client, merchant_link):
    _verify(client, merchant_link)
    _answer(client, merchant_link)
    record = ConsentRecord.objects.get()
    page = client.get(f"/c/notice/{record.notice_hash}")
    assert page.status_code == 200 and "제17조제2항" in _text(page)
    assert client.get(f"/c/notice/{'0' * 64}").status_code == 404


def test_other_missing_pages_are_korean_with_the_call_centre(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "페이지를 찾을 수 없습니다" in _text(response) and "02-120" in _text(response)


@pytest.mark.parametrize("template", ["400.html", "403.html", "403_csrf.html", "500.html"])
def test_the_error_templates_render_without_a_request(template):
    from django.template.loader import render_to_string

    html = render_to_string(template)
    assert 'lang="ko"' in html and "콜센터" in html and "02-120" in html


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # outside a transaction, where it prepares
def test_the_prepared_link_query_survives_a_dropped_statement(merchant_link, merchant_request):
    from django.db import connection, transaction

    from consent.bulk import link_statement_name
    from consent.selectors import link_request_for_page

    assert link_request_for_page(merchant_link.token).pk == merchant_request.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s",
                       [link_statement_name()])
        assert cursor.fetchone()[0] == 1
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a connection pooler might
    assert link_request_for_page(merchant_link.token).pk == merchant_request.pk
    assert link_request_for_page(merchant_link.token).pk == merchant_request.pk
    with transaction.atomic():
        assert link_request_for_page(merchant_link.token).pk == merchant_request.pk
    assert link_request_for_page(secrets.token_urlsafe(16)) is None


def test_the_page_reads_the_link_with_its_state_in_one_query(client, merchant_link,
                                                             django_assert_num_queries):
    client.get(f"/c/{merchant_link.token}")  # first opening writes once
    with django_assert_num_queries(1):
        assert client.get(f"/c/{merchant_link.token}").status_code == 200


def test_behind_the_proxy_the_rate_limit_counts_the_address_the_proxy_saw(rf, settings):
    from consent.views import _client_ip

    request = rf.get("/", REMOTE_ADDR="10.0.0.2",
                     HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.5")
    assert _client_ip(request) == "10.0.0.2"  # no proxy configured: the peer
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert _client_ip(request) == "203.0.113.5"  # the entry our proxy appended
    assert _client_ip(rf.get("/", REMOTE_ADDR="2001:db8:1:2:3:4:5:6")) == "2001:db8:1:2::"


def test_the_blank_identity_form_is_the_template_filled_in_for_each_visit(
        client, merchant_link, merchant_request, user_link):
    from consent.views.page_cache import copies

    copies.clear()
    first = _text(client.get(f"/c/{merchant_link.token}"))
    again = _text(client.get(f"/c/{merchant_link.token}"))  # from the per-process copy
    assert "\x00" not in first + again
    assert f'action="/c/{merchant_link.token}"' in again
    assert str(merchant_request.public_id)[:8].upper() in again
    assert f"next=/c/{merchant_link.token}" in again
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', again).group(1)
    assert len(token) == 64  # a real, masked CSRF token, and the form works with it
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    page = _text(strict.get(f"/c/{merchant_link.token}"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = strict.post(f"/c/{merchant_link.token}", {"answer": MERCHANT_BRN,
                                                         "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    # Another kind of subject gets its own form.
    assert "휴대전화 번호 뒤 4자리" in _text(client.get(f"/c/{user_link.token}"))


def test_the_notice_shows_each_subjects_own_choices_from_the_shared_copy(
        client, merchant_link, merchant_campaign, outgoing_operator):
    from consent.services.decisions import consent_answer
    from consent.views.page_cache import copies
    from governance.models import DataSubject
    from governance.services import subjects_upsert
    from tests.consent.conftest import make_request

    copies.clear()
    ids = subjects_upsert(operator=outgoing_operator.operator, kind="merchant", by=None,
                          rows=[{"external_id": "M-000002", "phone": synthetic_phone(3),
                                 "brn": synthetic_brn(2)}]).ids
    other_request = make_request(merchant_campaign, DataSubject.objects.get(pk=ids["M-000002"]))
    other = link_issue(request=other_request)
    consent_answer(request=other_request, agreed=[EMAIL], declined=[ACCOUNT],
                   channel="web", identity_factor="brn")

    _verify(client, merchant_link)
    mine = _text(client.get(f"/c/{merchant_link.token}/notice"))
    assert " checked" not in mine and "\x00" not in mine  # nothing answered yet
    assert f'action="/c/{merchant_link.token}/notice"' in mine

    other_client = type(client)()
    _verify(other_client, other, answer=synthetic_brn(2))
    theirs = _text(other_client.get(f"/c/{other.token}/notice"))
    assert len(copies.entries) == 1  # one copy of the notice, shared by both
    assert re.search(r'name="required" value="decline" aria-describedby="required-hint" '
                     r'checked>', theirs)
    assert f'name="opt:{EMAIL}" value="agree" checked>' in theirs
    assert f'name="opt:{MARKETING}"' not in theirs  # never asked
    assert f'name="opt:{EMAIL}" value="decline" >' in theirs
    assert f"/c/{other.token}/notice" in theirs and merchant_link.token not in theirs


def test_a_notice_only_request_goes_straight_to_the_objection_choice(client, user_campaign,
                                                                     user, user_request):
    Campaign.objects.filter(pk=user_campaign.pk).update(
        items=["user.phone", "user.name", "user.certificate_balance"])
    link = link_issue(request=user_request)
    response = _verify(client, link, answer=USER_PHONE_LAST4)
    assert response["Location"].endswith("/status")
    status = _text(client.get(response["Location"]))
    assert "이전 거부하기" in status and "응답하기" not in status


def test_the_status_page_offers_every_receipt_to_download(client, merchant_link):
    _verify(client, merchant_link)
    _answer(client, merchant_link)
    client.post(f"/c/{merchant_link.token}/withdraw")
    status = _text(client.get(f"/c/{merchant_link.token}/status"))
    for record in ConsentRecord.objects.all():
        assert f"/c/{merchant_link.token}/receipt/{record.receipt_id}.json" in status
    assert status.count("내려받기</a>") == 2


def test_the_confirm_page_lists_what_moves_on_consent_on_another_basis_and_what_stays(
        client, merchant_link):
    _verify(client, merchant_link)
    client.post(f"/c/{merchant_link.token}/notice", {
        "required": "agree", f"opt:{EMAIL}": "decline"})
    html = _text(client.get(f"/c/{merchant_link.token}/confirm"))
    assert "동의한 항목만 새 운영사로 이전됩니다" not in html
    moves = html.split("동의하셔서 옮겨지는 항목")[1]
    consent_part, rest = moves.split("동의와 관계없이 다른 근거로 옮겨지는 항목")
    other, stays = rest.split("옮겨지지 않는 항목")
    assert "정산 계좌" in consent_part and "이메일" not in consent_part
    assert "<strong>사업자등록번호</strong> — 개인정보 보호법 제26조" in other
    assert "<strong>정산 내역</strong> — 법령상 보관·이관 의무" in other
    assert "<strong>이메일</strong> — 동의하지 않음" in stays
    assert "<strong>내부 위험 평가</strong> — 운영사가 자체 목적으로 만든 평가로" in stays
    assert "<strong>마케팅 수신 동의</strong> — 마케팅 수신 동의는" in stays  # and why
