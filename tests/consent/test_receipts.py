"""consent.receipts: the signed consent receipt (Kantara CR v1.1 / ISO/IEC TS 27560 fields)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.signing import service_key_id, service_public_key_b64, service_public_key_bytes
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
    return consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[EMAIL],
                          channel="web", identity_factor="brn")


def _by_key(receipt: dict) -> dict:
    return {item["key"]: item for item in receipt["piiInformation"]}


def test_the_receipt_carries_the_consent_receipt_fields(answered, merchant, approved_plan):
    receipt = receipt_document(answered)["receipt"]
    for field in ("version", "jurisdiction", "consentTimestamp", "collectionMethod",
                  "consentReceiptID", "publicKey", "language", "piiPrincipalId",
                  "piiControllers", "policyUrl", "services", "sensitive", "spiCat",
                  "piiInformation", "withdrawalMethod", "privacyRights", "authorityParty",
                  "validityDuration", "privacyPolicy", "changesReceiptID", "eventType",
                  "eventState", "notice"):
        assert field in receipt, field
    assert receipt["jurisdiction"] == "KR" and receipt["language"] == "ko"
    assert receipt["consentReceiptID"] == str(answered.receipt_id)
    assert receipt["piiPrincipalId"] == f"subject:{merchant.public_id}"
    assert receipt["notice"]["shown"] is True
    assert receipt["notice"]["sha256"] == answered.notice_hash
    assert receipt["notice"]["version"] == 1
    assert receipt["notice"]["url"].endswith(f"/c/notice/{answered.notice_hash}")
    assert [i["label"] for i in receipt["itemsAgreed"]] == ["정산 계좌"]
    assert [i["key"] for i in receipt["itemsDeclined"]] == [EMAIL]
    assert receipt["state"] == "partially_granted" and receipt["channel"] == "web"
    assert receipt["eventState"] == "partially_granted"
    assert receipt["identityFactor"] == "brn" and "제17조" in receipt["legalBasis"]
    purpose = receipt["services"][0]["purposes"][0]
    assert purpose["purpose"] == approved_plan.purpose
    assert purpose["termination"] == approved_plan.retention
    assert purpose["thirdPartyName"] == "신한카드 컨소시엄"
    # piiCategory: what this consent covers, not the declined items with it.
    assert purpose["piiCategory"] == ["정산 계좌"]


def test_the_receipt_names_the_city_as_controller_and_the_operators_on_its_behalf(answered):
    parties = receipt_document(answered)["receipt"]["piiControllers"]
    city, outgoing, incoming = parties
    assert city["piiController"] == "서울특별시" and city["role"] == "controller"
    assert city["onBehalf"] is False and city["onBehalfOf"] == ""
    assert city["contact"] == "서울특별시 개인정보 보호책임자 (데모)"
    assert city["privacyOfficerContact"].startswith("02-120")
    assert city["address"] == "서울특별시 중구 세종대로 110"
    assert "merchant.business_registration_number" in city["controls"]
    for party, name in ((outgoing, "한국간편결제진흥원"), (incoming, "신한카드 컨소시엄")):
        assert party["piiController"] == name and party["role"] == "processor"
        assert party["onBehalf"] is True and party["onBehalfOf"] == "서울특별시"
        assert party["contact"].endswith("개인정보 보호책임자 (데모)")
    assert "provider" not in json.dumps(parties) and "제공자" not in json.dumps(parties)
    # The outgoing operator's own data (collected for its own service) is its own.
    assert ACCOUNT in outgoing["controls"] and ACCOUNT not in city["controls"]


def test_each_item_says_its_basis_whether_it_is_optional_and_how_sensitive_it_is(answered):
    items = _by_key(receipt_document(answered)["receipt"])
    assert items[ACCOUNT]["piiOptional"] is False and items[EMAIL]["piiOptional"] is True
    assert items[ACCOUNT]["sensitive"] is True and items[ACCOUNT]["sensitivityLevel"] == "high"
    assert items[EMAIL]["sensitive"] is False and items[EMAIL]["sensitivityLevel"] == "low"
    assert items[ACCOUNT]["decision"] == "agreed" and items[EMAIL]["decision"] == "declined"
    # Whose data each item is (catalogue): the operator's own, or the city's programme data.
    assert items[ACCOUNT]["piiController"] == "한국간편결제진흥원"
    assert items["merchant.business_registration_number"]["piiController"] == "서울특별시"
    brn = items["merchant.business_registration_number"]
    assert brn["basis"] == "entrustment_return" and brn["piiOptional"] is False
    assert "제26조" in brn["lawfulBasis"] and brn["decision"] == "not_decided_here"
    receipt = receipt_document(answered)["receipt"]
    assert receipt["sensitive"] is True and receipt["spiCat"] == ["정산 계좌"]


def test_the_receipt_lists_what_moves_on_consent_on_another_basis_and_what_stays(answered):
    receipt = receipt_document(answered)["receipt"]
    assert [i["key"] for i in receipt["movesOnConsent"]] == [ACCOUNT]
    other = {i["key"]: i["lawfulBasis"] for i in receipt["movesOnOtherBasis"]}
    assert "제26조" in other["merchant.business_registration_number"]
    assert "merchant.settlement_history" in other  # moves without consent, and says why
    stays = [i["key"] for i in receipt["stays"]]
    assert EMAIL in stays and "merchant.internal_risk_score" in stays
    because = {i["key"]: i["staysBecause"] for i in receipt["stays"]}
    assert because[EMAIL] == "동의하지 않음 (no consent)"
    assert because["merchant.internal_risk_score"]  # the plan's note, or that it never moves
    assert not set(stays) & set(other) and ACCOUNT not in stays


def test_the_receipt_says_how_to_withdraw_the_rights_the_authority_and_the_validity(answered):
    receipt = receipt_document(answered)["receipt"]
    assert receipt["withdrawalMethod"]["url"].endswith("/c/")
    assert receipt["withdrawalMethod"]["phone"] == "02-120"
    rights = {r["right"]: r for r in receipt["privacyRights"]}
    assert {"access", "rectification_erasure", "restriction", "withdraw_consent"} <= set(rights)
    assert rights["access"]["law"] == "개인정보 보호법 제35조"
    assert receipt["authorityParty"]["partyName"] == "개인정보보호위원회"
    assert receipt["authorityParty"]["partyUrl"] == "https://www.pipc.go.kr"
    validity = receipt["validityDuration"]
    assert validity["from"] == receipt["timestamp"] and "철회할 때까지" in validity["terms"]
    policy = receipt["privacyPolicy"]
    assert policy["url"].endswith("/privacy") and policy["version"] >= 1
    assert policy["permalink"].endswith(f"/privacy/{policy['sha256']}")
    assert receipt["policyUrl"] == policy["url"]
    assert receipt["changesReceiptID"] == ""  # the first answer changes nothing


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


def test_a_withdrawal_receipt_points_to_the_answer_it_withdraws(answered, merchant_request):
    withdrawn = receipt_document(consent_withdraw(request=merchant_request, channel="web",
                                                  identity_factor="brn"))["receipt"]
    assert withdrawn["state"] == "withdrawn" and withdrawn["eventType"] == "withdraw"
    assert withdrawn["changesReceiptID"] == str(answered.receipt_id)
    assert [i["key"] for i in withdrawn["itemsDeclined"]] == [ACCOUNT]
    assert withdrawn["movesOnConsent"] == []
    assert {ACCOUNT, EMAIL} <= {i["key"] for i in withdrawn["stays"]}
    assert _by_key(withdrawn)[ACCOUNT]["decision"] == "withdrawn"
    assert withdrawn["services"][0]["purposes"][0]["piiCategory"] == ["정산 계좌"]
    assert withdrawn["spiCat"] == ["정산 계좌"]


def test_an_objection_receipt_points_to_the_early_request_it_overrides(user_request):
    from consent.services.early import consent_early_request

    early = consent_early_request(request=user_request, channel="web",
                                  identity_factor="phone_last4")
    objected = receipt_document(consent_object(request=user_request, channel="web",
                                               identity_factor="phone_last4"))["receipt"]
    assert objected["state"] == "objected" and "제27조" in objected["legalBasis"]
    assert objected["changesReceiptID"] == str(early.receipt_id)
    assert objected["notice"]["version"] == 1 and objected["notice"]["shown"] is True
    assert {i["label"] for i in objected["itemsDeclined"]} == {"이용자 전화번호", "이용자 이름",
                                                               "상품권 잔액"}
    stays = {i["key"] for i in objected["stays"]}
    assert {"user.phone", "user.name", "user.certificate_balance"} <= stays
    assert {"right": "object_transfer"}.items() <= next(
        r for r in objected["privacyRights"] if r["right"] == "object_transfer").items()
    # Before the objection, the early request's receipt said the items move (Art. 27).
    early_receipt = receipt_document(early)["receipt"]
    assert "user.phone" in {i["key"] for i in early_receipt["movesOnOtherBasis"]}


def test_an_objection_without_an_earlier_record_changes_no_receipt(user_request):
    objected = receipt_document(consent_object(request=user_request, channel="web",
                                               identity_factor="phone_last4"))["receipt"]
    assert objected["changesReceiptID"] == ""


def test_a_later_answer_points_to_the_answer_it_replaces(answered, merchant_request):
    again = consent_answer(request=merchant_request, agreed=[ACCOUNT, EMAIL], declined=[],
                           channel="web", identity_factor="brn")
    receipt = receipt_document(again)["receipt"]
    assert receipt["changesReceiptID"] == str(answered.receipt_id)
    assert [i["key"] for i in receipt["movesOnConsent"]] == [ACCOUNT, EMAIL]


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
                                    "정산 계좌; 동의하지 않은 항목: 이메일")


# --- Verifying from the documentation alone (docs/consent-page.md, "Checking a receipt") ---


def _jcs(value) -> str:
    """The canonical form as docs/consent-page.md states it, written without json.dumps:
    keys sorted by code point, no whitespace, strings with only '"', '\\' and control
    characters escaped (\\b \\f \\n \\r \\t, else \\u00xx), integers in plain decimal."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise AssertionError("the documentation says a receipt holds no fractions")
    if isinstance(value, str):
        short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                 "\r": "\\r", "\t": "\\t"}
        out = []
        for ch in value:
            if ch in short:
                out.append(short[ch])
            elif ord(ch) < 0x20:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ",".join(_jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_jcs(k) + ":" + _jcs(value[k]) for k in sorted(value)) + "}"
    raise AssertionError(f"unexpected {type(value)}")


def _verify_from_the_documentation(document: dict, key_b64: str) -> None:
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key_b64)).verify(
        base64.b64decode(document["signature"]["value"]),
        _jcs(document["receipt"]).encode("utf-8"))


def test_every_kind_of_receipt_verifies_with_the_documented_canonical_form_and_key(
        client, answered, merchant_request, user_request):
    from consent.services.early import consent_early_request

    key = client.get("/c/receipt-key").json()
    assert key["alg"] == "Ed25519" and key["keyId"] == service_key_id()
    assert base64.b64decode(key["publicKey"]) == service_public_key_bytes()
    records = [answered,
               consent_withdraw(request=merchant_request, channel="web", identity_factor="brn"),
               consent_early_request(request=user_request, channel="web",
                                     identity_factor="phone_last4"),
               consent_object(request=user_request, channel="web",
                              identity_factor="phone_last4")]
    for record in records:
        document = json.loads(receipt_file_bytes(record))
        assert document["signature"]["keyId"] == key["keyId"]
        _verify_from_the_documentation(document, key["publicKey"])
        document["receipt"]["changesReceiptID"] = "tampered"
        with pytest.raises(InvalidSignature):
            _verify_from_the_documentation(document, key["publicKey"])


def test_the_privacy_page_a_receipt_names_is_served_at_its_permalink(client, answered):
    policy = receipt_document(answered)["receipt"]["privacyPolicy"]
    page = client.get(policy["permalink"].removeprefix(settings_base()))
    assert page.status_code == 200 and "개인정보 처리방침" in page.content.decode()


def settings_base() -> str:
    from django.conf import settings

    return settings.PUBLIC_BASE_URL


def test_a_receipt_names_the_privacy_page_in_force_when_it_was_recorded(answered,
                                                                        merchant_request):
    from governance.models import Operator

    before = receipt_document(answered)["receipt"]["privacyPolicy"]
    assert before["sha256"] == answered.privacy_hash and before["version"] >= 1
    # The page changes (the city's privacy officer has a new number): a new version.
    Operator.objects.filter(code="SEOUL").update(privacy_officer_contact="02-120 (새 번호)")
    later = consent_withdraw(request=merchant_request, channel="web", identity_factor="brn")
    assert later.privacy_hash != answered.privacy_hash
    assert later.privacy_version == before["version"] + 1
    # The first receipt still names the page its record was made under, and still verifies.
    document = json.loads(receipt_file_bytes(answered))
    assert document["receipt"]["privacyPolicy"] == before
    _verify_with_cryptography(document)


def test_a_later_ruling_does_not_rewrite_whose_data_an_old_receipt_names(answered, city):
    import datetime as dt

    from governance.models import Field
    from governance.services import ownership_set

    tomorrow = dt.date.today() + dt.timedelta(days=1)
    ownership_set(field=Field.objects.get(key=ACCOUNT), operator=city, role="controller",
                  ground="a later ruling (test)", since=tomorrow, by=None)
    items = _by_key(receipt_document(answered)["receipt"])
    assert items[ACCOUNT]["piiController"] == "한국간편결제진흥원"


def test_a_receipt_with_newlines_and_quotes_in_its_text_still_verifies(answered):
    """Control characters and quotes in strings (say, in a plan's purpose) are escaped the
    documented way: the receipt's own text carries several lines (the SMS), so check a
    receipt whose strings hold them."""
    from consent.receipts import receipt_sign

    receipt = receipt_document(answered)["receipt"]
    receipt["statement"] = 'a "quoted"\nline\tand \\ and \x01'
    _verify_from_the_documentation(receipt_sign(receipt), service_public_key_b64())


def test_a_receipt_of_an_sms_reply_says_no_notice_was_shown_and_quotes_the_sms(
        merchant_request):
    from django.utils import timezone

    from consent import sms_text
    from consent.models import SmsMessage
    from consent.services.sending import campaign_consent_facts

    body = sms_text.sms_body(url="https://example.test/c/" + "T" * 22,
                             consent=campaign_consent_facts(merchant_request.campaign))
    message = SmsMessage.objects.create(
        request=merchant_request, purpose="invitation", status="delivered",
        body_redacted=sms_text.redact(body, "T" * 22), submitted_at=timezone.now())
    record = consent_answer(request=merchant_request, agreed=[ACCOUNT], declined=[],
                            channel="sms_reply", identity_factor="phone_match",
                            sms_message=message)
    receipt = receipt_document(record)["receipt"]
    assert receipt["notice"] == {"shown": False, "kind": "", "version": 0, "sha256": "",
                                 "url": ""}
    assert "필수 항목(정산 계좌)" in receipt["sms"]["text"] and "[링크]" in receipt["sms"]["text"]
    assert _by_key(receipt)[EMAIL]["decision"] == "not_decided_here"
    assert [i["key"] for i in receipt["movesOnConsent"]] == [ACCOUNT]
    _verify_from_the_documentation(json.loads(receipt_file_bytes(record)),
                                   service_public_key_b64())
