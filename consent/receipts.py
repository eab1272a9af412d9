"""Consent receipts: what a subject said, signed by the service, theirs to keep.

A receipt is a JSON document with the fields of the Kantara Initiative Consent Receipt
Specification v1.1 (``version``, ``jurisdiction``, ``consentTimestamp``, ``collectionMethod``,
``consentReceiptID``, ``publicKey``, ``language``, ``piiPrincipalId``, ``piiControllers``,
``policyUrl``, ``services`` with ``purposes``, ``sensitive``, ``spiCat``) and the record fields
of ISO/IEC TS 27560 (notice with version and hash, items agreed/declined, legal basis, channel,
identity factor, state, event type), and ``statement``: what the record says in one Korean
sentence (e.g. that the subject asked its Art. 27 items to move now, and which). The data
subject appears only by its pseudonymous id.

The file is ``{"receipt": {...}, "signature": {...}}``: the signature is Ed25519 by the
service key (`audit.signing.service_sign`, key id `service_key_id()`) over the *canonical*
JSON of ``receipt`` — keys sorted, no whitespace, UTF-8, non-ASCII characters as themselves
(for the strings, integers and booleans a receipt holds this is the RFC 8785 form). Anyone can
check it with the published public key: canonicalise ``receipt`` the same way and verify.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.signing import service_key_id, service_public_key_b64, service_sign
from consent.models import ConsentRecord
from consent.notices import notice_items

RECEIPT_VERSION = "KI-CR-v1.1.0"
RECORD_SCHEMA = "ISO/IEC TS 27560:2023 (consent record information structure)"

_COLLECTION_METHODS = {
    ConsentRecord.Channel.WEB: "개인 링크 웹 페이지 (SMS personal link, web form)",
    ConsentRecord.Channel.SMS_REPLY: "문자 회신 (SMS reply)",
    ConsentRecord.Channel.PHONE: "전화 — 담당자 기록 (phone call recorded by an officer)",
}
_LEGAL_BASIS = {
    ConsentRecord.Action.ANSWER: "개인정보 보호법 제17조제1항제1호·제2항 (consent, PIPA Art. 17)",
    ConsentRecord.Action.WITHDRAW: "개인정보 보호법 제37조 (withdrawal of consent, PIPA Art. 37)",
    ConsentRecord.Action.OBJECT: "개인정보 보호법 제27조 (objection to a business transfer, "
                                 "PIPA Art. 27)",
    ConsentRecord.Action.EARLY_REQUEST: "개인정보 보호법 제27조 — 정보주체의 조기 이전 요청 "
                                        "(the subject asked to move now, PIPA Art. 27)",
    ConsentRecord.Action.EARLY_WITHDRAW: "개인정보 보호법 제27조 — 조기 이전 요청 철회 "
                                         "(early request withdrawn, PIPA Art. 27)",
}
_STATES = {
    ConsentRecord.Action.WITHDRAW: "withdrawn",
    ConsentRecord.Action.OBJECT: "objected",
    ConsentRecord.Action.EARLY_REQUEST: "early_requested",
    ConsentRecord.Action.EARLY_WITHDRAW: "early_request_withdrawn",
}
_CONSENT_TYPES = {
    ConsentRecord.Action.ANSWER: "EXPLICIT",
    ConsentRecord.Action.OBJECT: "NOTICE_OPT_OUT",
    ConsentRecord.Action.EARLY_REQUEST: "EXPLICIT",
}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _state(record: ConsentRecord) -> str:
    if record.action in _STATES:
        return _STATES[record.action]
    if record.items_agreed and record.items_declined:
        return "partially_granted"
    return "granted" if record.items_agreed else "declined"


def _controller(operator, role: str) -> dict:
    return {"piiController": operator.name, "piiControllerEn": operator.name_en,
            "role": role, "address": operator.address, "phone": operator.phone}


def notice_url(text_hash: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("consent:notice_text", args=[text_hash])


def receipt_build(record: ConsentRecord) -> dict:
    """The receipt of ``record`` (unsigned)."""
    plan, notice = record.plan, record.notice
    labels = {}
    if notice is not None:
        labels = {i.key: i.label for i in notice_items(plan=plan,
                                                       subject_kind=record.subject.kind,
                                                       kind=notice.kind)}

    def items(keys):
        return [{"key": k, "label": labels.get(k, k)} for k in keys]

    created = timezone.localtime(record.created_at)
    return {
        "version": RECEIPT_VERSION,
        "recordSchema": RECORD_SCHEMA,
        "jurisdiction": "KR",
        "consentTimestamp": int(record.created_at.timestamp()),
        "timestamp": created.isoformat(),
        "collectionMethod": _COLLECTION_METHODS.get(record.channel, record.channel),
        "consentReceiptID": str(record.receipt_id),
        "publicKey": service_public_key_b64(),
        "language": "ko",
        "piiPrincipalId": f"subject:{record.subject.public_id}",
        "piiControllers": [_controller(plan.from_operator, "provider (제공자)"),
                           _controller(plan.to_operator, "recipient (제공받는 자)")],
        "policyUrl": notice_url(record.notice_hash) if record.notice_hash else "",
        "notice": {"kind": notice.kind if notice else "", "version": notice.version if notice
                   else 0, "sha256": record.notice_hash,
                   "url": notice_url(record.notice_hash) if record.notice_hash else ""},
        "services": [{
            "service": plan.title,
            "purposes": [{
                "purpose": plan.purpose,
                "purposeCategory": ["운영사 변경에 따른 업무 승계 (service transfer)"],
                "consentType": _CONSENT_TYPES.get(record.action, "WITHDRAWAL"),
                "piiCategory": [labels.get(k, k) for k in (record.items_agreed
                                                           + record.items_declined)],
                "primaryPurpose": True,
                "termination": plan.retention,
                "thirdPartyDisclosure": True,
                "thirdPartyName": plan.to_operator.name,
            }],
        }],
        "sensitive": False,
        "spiCat": [],
        "eventType": record.action,
        "itemsAgreed": items(record.items_agreed),
        "itemsDeclined": items(record.items_declined),
        "legalBasis": _LEGAL_BASIS[record.action],
        "statement": statement(record, labels),
        "channel": record.channel,
        "identityFactor": record.identity_factor,
        "recordedByOfficer": record.officer_id is not None,
        "state": _state(record),
        "plan": {"lineage": str(plan.lineage), "version": plan.version},
        "request": str(record.request.public_id) if record.request_id else "",
    }


def statement(record: ConsentRecord, labels: dict[str, str]) -> str:
    """What the record says, in one Korean sentence (the receipt's words, not only its codes)."""
    to = record.plan.to_operator.name

    def named(keys) -> str:
        return ", ".join(labels.get(k, k) for k in keys) or "없음"

    action = record.action
    if action == ConsentRecord.Action.EARLY_REQUEST:
        return (f"정보주체가 고지 기간이 끝나기를 기다리지 않고 다음 항목을 지금 {to}(으)로 "
                f"이전해 달라고 요청했습니다: {named(record.items_agreed)}")
    if action == ConsentRecord.Action.EARLY_WITHDRAW:
        return (f"정보주체가 조기 이전 요청을 철회했습니다. 다음 항목은 고지 기간이 지난 뒤 "
                f"이전됩니다 (이전을 거부하지 않는 한): {named(record.items_declined)}")
    if action == ConsentRecord.Action.OBJECT:
        return (f"정보주체가 다음 항목의 {to} 이전을 거부했습니다: "
                f"{named(record.items_declined)}")
    if action == ConsentRecord.Action.WITHDRAW:
        return f"정보주체가 다음 항목에 대한 동의를 철회했습니다: {named(record.items_declined)}"
    return (f"정보주체가 {to}에 제공하는 데 동의한 항목: {named(record.items_agreed)}; "
            f"동의하지 않은 항목: {named(record.items_declined)}")


def receipt_sign(receipt: dict) -> dict:
    signature = service_sign(canonical_json(receipt))
    return {"receipt": receipt,
            "signature": {"alg": "Ed25519", "keyId": service_key_id(),
                          "publicKey": service_public_key_b64(),
                          "canonicalization": "JSON, keys sorted, no whitespace, UTF-8",
                          "value": base64.b64encode(signature).decode()}}


def receipt_document(record: ConsentRecord) -> dict:
    """The signed receipt of ``record``: ``{"receipt": ..., "signature": ...}``."""
    return receipt_sign(receipt_build(record))


def receipt_file_bytes(record: ConsentRecord) -> bytes:
    return json.dumps(receipt_document(record), ensure_ascii=False, indent=2).encode("utf-8")


def receipt_verify(document: dict, public_key: bytes) -> bool:
    """True if ``document``'s signature is the holder of ``public_key``'s over its receipt."""
    try:
        signature = base64.b64decode(document["signature"]["value"])
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, canonical_json(document["receipt"]))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True
