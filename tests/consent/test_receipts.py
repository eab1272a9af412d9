"""consent.receipts: the signed consent receipt (Kantara CR v1.1 / ISO/IEC TS 27560 fields)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.signing import service_key_id, service_public_key_bytes
from consent.receipts import receipt_document, receipt_file_bytes, receipt_verify
from consent.services.decisions import consent_answer, consent_object, consent_withdraw

pytestmark = pytest.mark.django_db

ACCOUNT, EMAIL, MARKETING = ("merchant.settlement_bank_account", "merchant.email",
                             "merchant.marketing_opt_in")


def _canonical(receipt: dict) -> bytes:
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _verify_with_cryptography(document: dict) -> None:
    """Verify as an outsider would: the published key, the canonical bytes, Ed25519."""
    public = Ed25519PublicKey.from_public_bytes(service_public_key_bytes())
    public.verify(base64.b64decode(document["signature"]["value"]),
                  _canonical(document["receipt"]))


@pytest.fixture
def answered(merchant_request):
    return consent_answer(request=merchant_request, agreed=[ACCOUNT, EMAIL],
                          declined=[MARKETING], channel="web", identity_factor="brn")


def test_the_receipt_carries_the_consent_receipt_fields(answered, merchant, approved_plan):
    receipt = receipt_document(answered)["receipt"]
    for field in ("version", "jurisdiction", "consentTimestamp", "collectionMethod",
                  "consentReceiptID", "publicKey", "language", "piiPrincipalId",
                  "piiControllers", "policyUrl", "services", "sensitive", "spiCat"):
        assert field in receipt, field
    assert receipt["jurisdiction"] == "KR" and receipt["language"] == "ko"
    assert receipt["consentReceiptID"] == str(answered.receipt_id)
    assert receipt["piiPrincipalId"] == f"subject:{merchant.public_id}"
    assert [c["piiController"] for c in receipt["piiControllers"]] == [
        "한국간편결제진흥원", "신한카드 컨소시엄"]
    assert receipt["notice"]["sha256"] == answered.notice_hash
    assert receipt["notice"]["version"] == 1
    assert receipt["notice"]["url"].endswith(f"/c/notice/{answered.notice_hash}")
    assert [i["label"] for i in receipt["itemsAgreed"]] == ["이메일", "정산 계좌"]
    assert [i["key"] for i in receipt["itemsDeclined"]] == [MARKETING]
    assert receipt["state"] == "partially_granted" and receipt["channel"] == "web"
    assert receipt["identityFactor"] == "brn" and "제17조" in receipt["legalBasis"]
    purpose = receipt["services"][0]["purposes"][0]
    assert purpose["purpose"] == approved_plan.purpose
    assert purpose["termination"] == approved_plan.retention
    assert purpose["thirdPartyName"] == "신한카드 컨소시엄"


def test_the_receipt_names_no_personal_value(answered, merchant):
    text = receipt_file_bytes(answered).decode()
    assert merchant.phone not in text and merchant.external_id not in text
    assert merchant.brn_hash not in text


def test_the_signature_verifies_with_the_published_service_key(answered):
    document = json.loads(receipt_file_bytes(answered))
    assert document["signature"]["alg"] == "Ed25519"
    assert document["signature"]["keyId"] == service_key_id()
    _verify_with_cryptography(document)
    assert receipt_verify(document, service_public_key_bytes())


def test_a_changed_receipt_no_longer_verifies(answered):
    document = json.loads(receipt_file_bytes(answered))
    document["receipt"]["itemsDeclined"] = []
    with pytest.raises(InvalidSignature):
        _verify_with_cryptography(document)
    assert not receipt_verify(document, service_public_key_bytes())


def test_a_receipt_signed_by_another_key_does_not_verify(answered):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw,
                                                                   PublicFormat.Raw)
    assert not receipt_verify(json.loads(receipt_file_bytes(answered)), other)


def test_withdrawal_and_objection_receipts_say_what_they_are(answered, merchant_request,
                                                             user_request):
    withdrawn = receipt_document(consent_withdraw(request=merchant_request, channel="web",
                                                  identity_factor="brn"))["receipt"]
    assert withdrawn["state"] == "withdrawn" and withdrawn["eventType"] == "withdraw"
    assert [i["key"] for i in withdrawn["itemsDeclined"]] == [EMAIL, ACCOUNT]
    objected = receipt_document(consent_object(request=user_request, channel="web",
                                               identity_factor="phone_last4"))["receipt"]
    assert objected["state"] == "objected" and "제27조" in objected["legalBasis"]
    assert objected["notice"]["version"] == 1
    assert {i["label"] for i in objected["itemsDeclined"]} == {"이용자 전화번호", "이용자 이름",
                                                               "상품권 잔액"}


def test_an_early_request_receipt_says_in_words_that_the_subject_asked_to_move_now(
        user_request, user):
    from consent.services.early import consent_early_request

    record = consent_early_request(request=user_request, channel="web",
                                   identity_factor="phone_last4")
    document = json.loads(receipt_file_bytes(record))
    _verify_with_cryptography(document)
    receipt = document["receipt"]
    assert receipt["eventType"] == "early_request" and receipt["state"] == "early_requested"
    assert receipt["statement"] == (
        "정보주체가 고지 기간이 끝나기를 기다리지 않고 다음 항목을 지금 신한카드 컨소시엄(으)로 "
        "이전해 달라고 요청했습니다: 상품권 잔액, 이용자 이름, 이용자 전화번호")
    assert [i["label"] for i in receipt["itemsAgreed"]] == ["상품권 잔액", "이용자 이름",
                                                           "이용자 전화번호"]
    assert "제27조" in receipt["legalBasis"] and "조기 이전" in receipt["legalBasis"]
    assert receipt["notice"]["sha256"] == record.notice_hash
    assert receipt["services"][0]["purposes"][0]["consentType"] == "EXPLICIT"
    assert receipt["piiPrincipalId"] == f"subject:{user.public_id}"
    assert user.phone not in receipt_file_bytes(record).decode()


def test_an_early_withdrawal_receipt_says_the_items_wait_again(user_request):
    from consent.services.early import consent_early_request, consent_early_withdraw

    consent_early_request(request=user_request, channel="web", identity_factor="phone_last4")
    record = consent_early_withdraw(request=user_request, channel="web",
                                    identity_factor="phone_last4")
    receipt = receipt_document(record)["receipt"]
    assert receipt["state"] == "early_request_withdrawn"
    assert receipt["statement"].startswith("정보주체가 조기 이전 요청을 철회했습니다.")
    assert "상품권 잔액" in receipt["statement"]
    assert receipt["services"][0]["purposes"][0]["consentType"] == "WITHDRAWAL"


def test_every_receipt_carries_a_statement_in_words(answered):
    receipt = receipt_document(answered)["receipt"]
    assert receipt["statement"] == ("정보주체가 신한카드 컨소시엄에 제공하는 데 동의한 항목: "
                                    "이메일, 정산 계좌; 동의하지 않은 항목: 마케팅 수신 동의")
