"""The lasting way back in (`/c/` without a link): a phone number, a one-time code by SMS,
and the status page of one's request, also after its answer period closed."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import ConsentLink, ConsentRecord, ConsentRequest, ReturnCode
from consent.services.returning import (
    MAX_ATTEMPTS,
    PER_NUMBER_PER_HOUR,
    CodeRefused,
    return_code_request,
    return_code_verify,
)
from governance.models import SubjectConsentState
from governance.seoul import synthetic_phone
from tests.consent.sms_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

MERCHANT_PHONE = synthetic_phone(1)  # the `merchant` fixture's number
UNKNOWN_PHONE = "010-0000-9876"


@pytest.fixture(autouse=True)
def _on_commit_runs_at_once(monkeypatch):
    """The test's transaction never commits: run what waits for the commit (the SMS) now."""
    from consent.services import returning

    monkeypatch.setattr(returning.transaction, "on_commit", lambda func, **_kw: func())


def _text(response) -> str:
    return response.content.decode()


def _code_from(outbox) -> str:
    (line,) = [entry for entry in outbox.lines() if "인증번호" in entry["body"]][-1:]
    return re.search(r"인증번호 ([0-9]{6})", line["body"]).group(1)


def _closed(request: ConsentRequest) -> None:
    """The answer period is over: the request expired, and with it every link it was sent."""
    past = timezone.now() - dt.timedelta(minutes=1)
    ConsentRequest.objects.filter(pk=request.pk).update(expires_at=past,
                                                        status=ConsentRequest.Status.EXPIRED)
    ConsentLink.objects.filter(request=request).update(expires_at=past)


def _come_back(client, outbox, phone=MERCHANT_PHONE):
    start = client.post("/c/", {"phone": phone})
    assert start.status_code == 302 and start["Location"] == "/c/code"
    return client.post("/c/code", {"code": _code_from(outbox)})


def test_a_known_and_an_unknown_number_get_the_same_answer(client, merchant_request, outbox):
    from django.test import Client

    stranger = Client()
    known = client.post("/c/", {"phone": MERCHANT_PHONE}, follow=True)
    unknown = stranger.post("/c/", {"phone": UNKNOWN_PHONE}, follow=True)
    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain == [("/c/code", 302)]

    def page(response) -> str:  # the CSRF token differs per visitor, nothing else may
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", _text(response))

    assert page(known) == page(unknown)
    # Only the known number got an SMS; both requests are rows (the limit counts both).
    assert [entry["to"] for entry in outbox.lines()] == ["+821000000001"]
    assert ReturnCode.objects.count() == 2
    assert set(ReturnCode.objects.values_list("sent", flat=True)) == {True, False}


def test_the_code_is_stored_as_a_hash_and_the_audit_holds_no_phone(client, merchant_request,
                                                                   outbox):
    client.post("/c/", {"phone": MERCHANT_PHONE})
    code = _code_from(outbox)
    row = ReturnCode.objects.get()
    assert code not in row.code_hash and row.code_sealed == ""  # sent, then forgotten
    assert row.phone_index and "0000" not in row.phone_index
    events = AuditEvent.objects.filter(action__startswith="consent.return_code")
    assert {e.action for e in events} == {"consent.return_code_requested",
                                          "consent.return_code_sent"}
    for event in events:
        text = str(event.details) + event.target_id
        assert "0000-0001" not in text and "+8210" not in text and code not in text
        assert row.phone_index not in text


def test_the_right_code_leads_to_the_status_page_after_the_link_expired(client, merchant_request,
                                                                        merchant, outbox):
    from consent.services.decisions import consent_answer

    consent_answer(request=merchant_request, agreed=["merchant.settlement_bank_account"],
                   declined=[], channel="web", identity_factor="brn")
    _closed(merchant_request)
    chosen = _come_back(client, outbox)
    assert chosen.status_code == 302 and chosen["Location"] == "/c/choose"
    choice = client.get("/c/choose")
    assert str(merchant_request.public_id)[:8].upper() in _text(choice)
    status = client.post("/c/choose", {"request": str(merchant_request.public_id)})
    assert status.status_code == 302 and status["Location"].endswith("/status")
    page = client.get(status["Location"])
    html = _text(page)
    assert page.status_code == 200 and "정산 계좌" in html and "동의 철회하기" in html
    assert "응답 바꾸기" not in html  # a new answer needs an open request
    assert "확인서 보기" in html
    link = ConsentLink.objects.get(via_code=True)
    assert link.expires_at <= timezone.now() + dt.timedelta(minutes=31)
    verified = AuditEvent.objects.get(action="consent.return_code_verified")
    assert verified.details["subjects"] == [merchant.public_id]

    # Withdraw from there, and download the receipt.
    token = status["Location"].split("/")[2]
    done = client.post(f"/c/{token}/withdraw")
    assert done.status_code == 302
    record = ConsentRecord.objects.get(action="withdraw")
    assert record.identity_factor == "sms_code"
    assert SubjectConsentState.objects.get(subject=merchant).fields_granted == []
    receipt = client.get(f"/c/{token}/receipt/{record.receipt_id}.json")
    assert receipt.status_code == 200 and receipt.json()["receipt"]["state"] == "withdrawn"


def test_a_user_objects_and_moves_early_through_the_way_back_in(client, user_request, user,
                                                              outbox):
    _closed(user_request)
    _come_back(client, outbox, phone=synthetic_phone(2))
    status = client.post("/c/choose", {"request": str(user_request.public_id)})
    token = status["Location"].split("/")[2]
    assert client.post(f"/c/{token}/early").status_code == 302
    assert ConsentRecord.objects.get(action="early_request").identity_factor == "sms_code"
    assert client.post(f"/c/{token}/object").status_code == 302
    assert SubjectConsentState.objects.get(subject=user).objected


def test_an_original_link_of_a_closed_request_still_gets_the_bad_link_page(
        client, merchant_link, merchant_request):
    _closed(merchant_request)
    assert client.get(f"/c/{merchant_link.token}/status").status_code == 404


def test_a_wrong_code_is_refused_and_the_code_dies_after_five_tries(client, merchant_request,
                                                                   outbox):
    client.post("/c/", {"phone": MERCHANT_PHONE})
    code = _code_from(outbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(MAX_ATTEMPTS):
        response = client.post("/c/code", {"code": wrong})
        assert response.status_code == 400 and "맞지 않거나" in _text(response)
    response = client.post("/c/code", {"code": code})  # right, but too late
    assert response.status_code == 400
    assert AuditEvent.objects.filter(action="consent.return_code_failed").count() == MAX_ATTEMPTS


def test_an_expired_or_used_code_is_refused(merchant_request, outbox):
    row = return_code_request(phone=MERCHANT_PHONE, client_ip="192.0.2.1")
    code = _code_from(outbox)
    assert return_code_verify(code_id=str(row.public_id), code=code, client_ip="192.0.2.1")
    with pytest.raises(CodeRefused):  # used
        return_code_verify(code_id=str(row.public_id), code=code, client_ip="192.0.2.1")
    later = return_code_request(phone=MERCHANT_PHONE, client_ip="192.0.2.1")
    ReturnCode.objects.filter(pk=later.pk).update(expires_at=timezone.now())
    with pytest.raises(CodeRefused):
        return_code_verify(code_id=str(later.public_id), code=_code_from(outbox),
                           client_ip="192.0.2.1")


def test_a_number_gets_at_most_three_codes_an_hour_known_or_not(client, merchant_request,
                                                                 outbox):
    for phone in (MERCHANT_PHONE, UNKNOWN_PHONE):
        for _ in range(PER_NUMBER_PER_HOUR):
            assert client.post("/c/", {"phone": phone}).status_code == 302
        refused = client.post("/c/", {"phone": phone})
        assert refused.status_code == 429 and "너무 자주" in _text(refused)
    assert len(outbox.lines()) == PER_NUMBER_PER_HOUR


def test_an_address_is_limited_across_numbers(client, merchant_request, outbox, settings):
    settings.CONSENT_RETURN_RATE = "2/h"
    assert client.post("/c/", {"phone": "010-0000-0101"}).status_code == 302
    assert client.post("/c/", {"phone": "010-0000-0102"}).status_code == 302
    assert client.post("/c/", {"phone": "010-0000-0103"}).status_code == 429


def test_a_malformed_number_is_asked_again(client):
    response = client.post("/c/", {"phone": "12345"})
    assert response.status_code == 400 and "번호를 확인해" in _text(response)
    assert not ReturnCode.objects.exists()


def test_the_choice_page_needs_a_verified_code(client, merchant_request):
    assert client.get("/c/choose")["Location"] == "/c/"
    assert client.post("/c/code", {"code": "123456"})["Location"] == "/c/"


def test_the_tick_forgets_codes_once_no_limit_counts_them(merchant_request, outbox):
    from consent.services.lifecycle import consent_tick

    old = return_code_request(phone=MERCHANT_PHONE, client_ip="192.0.2.1")
    ReturnCode.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=1, minutes=1))
    fresh = return_code_request(phone=MERCHANT_PHONE, client_ip="192.0.2.1")
    assert consent_tick()["return_codes_pruned"] == 1
    assert list(ReturnCode.objects.values_list("pk", flat=True)) == [fresh.pk]
