"""Consent receipts: what a subject said, signed by the service, theirs to keep.

A receipt is a JSON document with the fields of the Kantara Initiative Consent Receipt
Specification v1.1 (``version``, ``jurisdiction``, ``consentTimestamp``, ``collectionMethod``,
``consentReceiptID``, ``publicKey``, ``language``, ``piiPrincipalId``, ``piiControllers`` with
``onBehalf``, ``policyUrl``, ``services`` with ``purposes``, ``sensitive``, ``spiCat``) and the
record fields of ISO/IEC TS 27560:2023 as the W3C DPV guide names them, in camelCase
(``piiInformation`` with ``piiOptional`` and the catalogue's sensitivity per item,
``withdrawalMethod``, ``privacyRights``, ``authorityParty``, ``validityDuration``, the
privacy notice shown with version and hash, ``lawfulBasis``, ``eventType``, ``eventState``),
and ``statement``: what the record says in one Korean sentence. Who is who comes from the
plan (`governance.selectors.plan_roles`): the city is the controller; the operators are
processors acting on its behalf (``onBehalf``). The data subject appears only by its
pseudonymous id. docs/consent-page.md lists every field.

The file is ``{"receipt": {...}, "signature": {...}}``: the signature is Ed25519 by the
service key (`audit.signing.service_sign`, key id `service_key_id()`, published at
``/c/receipt-key``) over the *canonical* JSON of ``receipt`` (`canonical_json`): object keys
sorted by code point, no whitespace, UTF-8, non-ASCII characters as themselves, only ``"``,
``\\`` and control characters escaped; the receipt holds only strings, integers (no
fractions, no exponents), booleans, null, arrays and objects, for which this is the RFC 8785
(JCS) form. Anyone can check it with the published public key: canonicalise ``receipt`` the
same way and verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.signing import service_key_id, service_public_key_b64, service_sign
from consent.models import ConsentRecord
from consent.notices import notice_items
from consent.roles import field_controllers, plan_parties
from governance.models import Field, FieldRule

RECEIPT_VERSION = "KI-CR-v1.1.0"
RECORD_SCHEMA = "ISO/IEC TS 27560:2023 (consent record information structure)"
CANONICALIZATION = ("JSON (RFC 8785 form): keys sorted, no whitespace, UTF-8, non-ASCII as "
                    "is, integers only")
Basis = FieldRule.Basis
Action = ConsentRecord.Action

_COLLECTION_METHODS = {
    ConsentRecord.Channel.WEB: "개인 링크 웹 페이지 (SMS personal link, web form)",
    ConsentRecord.Channel.SMS_REPLY: "문자 회신 (SMS reply)",
    ConsentRecord.Channel.PHONE: "전화 — 담당자 기록 (phone call recorded by an officer)",
}
_LEGAL_BASIS = {
    Action.ANSWER: "개인정보 보호법 제17조제1항제1호·제2항 (consent, PIPA Art. 17)",
    Action.WITHDRAW: "개인정보 보호법 제37조 (withdrawal of consent, PIPA Art. 37)",
    Action.OBJECT: "개인정보 보호법 제27조 (objection to a business transfer, PIPA Art. 27)",
    Action.EARLY_REQUEST: "개인정보 보호법 제27조 — 정보주체의 조기 이전 요청 "
                          "(the subject asked to move now, PIPA Art. 27)",
    Action.EARLY_WITHDRAW: "개인정보 보호법 제27조 — 조기 이전 요청 철회 "
                           "(early request withdrawn, PIPA Art. 27)",
}
_STATES = {
    Action.WITHDRAW: "withdrawn",
    Action.OBJECT: "objected",
    Action.EARLY_REQUEST: "early_requested",
    Action.EARLY_WITHDRAW: "early_request_withdrawn",
}
_CONSENT_TYPES = {
    Action.ANSWER: "EXPLICIT",
    Action.OBJECT: "NOTICE_OPT_OUT",
    Action.EARLY_REQUEST: "EXPLICIT",
}
# The ground each basis other than consent moves an item on, as the receipt states it.
BASIS_GROUNDS = {
    Basis.ENTRUSTMENT_RETURN: "개인정보 보호법 제26조 — 위탁자(개인정보처리자)의 지시에 따른 "
                              "수탁자 변경 (entrustment, PIPA Art. 26)",
    Basis.LEGAL_OBLIGATION: "법령상 보관·이관 의무 (legal obligation)",
    Basis.NOTICE_OPT_OUT: "개인정보 보호법 제27조 — 고지 후 이전, 거부 가능 "
                          "(business transfer on notice, PIPA Art. 27)",
    Basis.NOT_PERSONAL: "개인정보 아님 — 사업 정보 (not personal data)",
    Basis.CONSENT: "개인정보 보호법 제17조 — 동의 (consent, PIPA Art. 17)",
    Basis.PROHIBITED: "이전하지 않음 (not moved)",
}
AUTHORITY = {
    "partyName": "개인정보보호위원회",
    "partyNameEn": "Personal Information Protection Commission (PIPC)",
    "partyRole": "authority",
    "partyUrl": "https://www.pipc.go.kr",
    "complaints": "개인정보침해 신고센터 (한국인터넷진흥원) 국번 없이 118, "
                  "https://privacy.kisa.or.kr",
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


def _party_json(party) -> dict:
    return {"piiController": party.name, "piiControllerEn": party.name_en,
            "role": party.role, "roleKo": party.role_ko, "title": party.title,
            "duty": party.duty,
            "onBehalf": bool(party.on_behalf_of), "onBehalfOf": party.on_behalf_of,
            "contact": party.privacy_officer, "privacyOfficerContact":
            party.privacy_officer_contact, "address": party.address, "phone": party.phone,
            "controls": list(party.controls)}


def notice_url(text_hash: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("consent:notice_text", args=[text_hash])


def _plan_fields(record: ConsentRecord) -> list[tuple[Field, FieldRule]]:
    rules = (FieldRule.objects.select_related("field")
             .filter(plan=record.plan, field__subject_kind=record.subject.kind)
             .order_by("field__position", "field__key"))
    return [(rule.field, rule) for rule in rules]


# What this record decides about an item of its own kind, by action.
_DECIDED = {Action.ANSWER: ("agreed", "declined"), Action.WITHDRAW: ("", "withdrawn"),
            Action.OBJECT: ("", "objected"), Action.EARLY_REQUEST: ("early_requested", ""),
            Action.EARLY_WITHDRAW: ("", "early_request_withdrawn")}


@dataclass
class _Standing:
    """What the subject's records say, up to and including one record."""

    granted: set = dc_field(default_factory=set)
    objected: bool = False


def _standing(record: ConsentRecord) -> _Standing:
    """Replays the subject's records for the plan up to ``record`` (records are immutable, so
    a receipt built later says the same): consent items granted, objection made."""
    standing = _Standing()
    history = (ConsentRecord.objects.filter(plan=record.plan, subject=record.subject)
               .order_by("created_at", "id")
               .values_list("id", "action", "items_agreed", "items_declined",
                            "sms_message_id", "created_at"))
    for rid, action, agreed, declined, sms_id, created_at in history:
        if (created_at, rid) > (record.created_at, record.pk):
            break
        if action == Action.ANSWER:
            if sms_id is not None:  # partial: only the items the SMS named
                standing.granted = (standing.granted - set(declined)) | set(agreed)
            else:
                standing.granted = set(agreed)
        elif action == Action.WITHDRAW:
            standing.granted = set()
        elif action == Action.OBJECT:
            standing.objected = True
    return standing


def _item(field: Field, rule: FieldRule, record: ConsentRecord, standing: _Standing,
          controllers: dict[str, str]) -> dict:
    """One item of the plan for the subject's kind: its basis, whether it is optional, how
    sensitive the catalogue says it is, what this record decided about it, and whether it
    moves (on consent, on another basis named per item) or stays, as things stand after
    this record."""
    agreed_word, declined_word = _DECIDED[record.action]
    if field.key in record.items_agreed:
        decision = agreed_word
    elif field.key in record.items_declined:
        decision = declined_word
    else:
        decision = "not_decided_here"
    because = ""
    if rule.basis == Basis.CONSENT:
        moves = "consent" if field.key in standing.granted else "stays"
        because = "" if moves == "consent" else "동의하지 않음 (no consent)"
    elif rule.basis == Basis.NOTICE_OPT_OUT:
        moves = "stays" if standing.objected else "other_basis"
        because = "이전 거부 (objected)" if standing.objected else ""
    elif rule.basis == Basis.PROHIBITED:
        moves = "stays"
        because = rule.note or "이전하지 않는 항목 (never moved)"
    else:
        moves = "other_basis"
    return {
        "key": field.key, "label": field.label_ko, "labelEn": field.label_en,
        "personal": field.personal, "piiController": controllers.get(field.key, ""),
        "basis": rule.basis, "lawfulBasis":
        BASIS_GROUNDS.get(rule.basis, rule.basis),
        "piiOptional": rule.basis == Basis.CONSENT and not rule.required,
        "sensitive": field.sensitivity == Field.Sensitivity.HIGH,
        "sensitivityLevel": field.sensitivity, "decision": decision, "moves": moves,
        "staysBecause": because,
    }


def _sms_json(record: ConsentRecord) -> dict | None:
    message = record.sms_message
    if message is None:
        return None
    return {"purpose": message.purpose,
            "sentAt": (timezone.localtime(message.submitted_at).isoformat()
                       if message.submitted_at else ""),
            "sha256": hashlib.sha256(message.body_redacted.encode("utf-8")).hexdigest(),
            "text": message.body_redacted}


def _rights(record: ConsentRecord, parties, has_transfer_items: bool) -> list[dict]:
    officer = parties[0]
    contact = " ".join(p for p in (officer.privacy_officer, officer.privacy_officer_contact)
                       if p) or officer.name
    rights = [
        {"right": "access", "rightKo": "열람 요구", "law": "개인정보 보호법 제35조",
         "how": f"{contact} 또는 콜센터 {settings.CALL_CENTRE_PHONE}"},
        {"right": "rectification_erasure", "rightKo": "정정·삭제 요구",
         "law": "개인정보 보호법 제36조",
         "how": f"{contact} 또는 콜센터 {settings.CALL_CENTRE_PHONE}"},
        {"right": "restriction", "rightKo": "처리정지 요구", "law": "개인정보 보호법 제37조",
         "how": f"{contact} 또는 콜센터 {settings.CALL_CENTRE_PHONE}"},
        {"right": "withdraw_consent", "rightKo": "동의 철회", "law": "개인정보 보호법 제37조",
         "how": "개인 링크의 [동의 철회하기], 또는 " + _return_url()
                + " 에서 휴대전화 인증 후"},
    ]
    if has_transfer_items:
        rights.append({"right": "object_transfer", "rightKo": "이전 거부",
                       "law": "개인정보 보호법 제27조",
                       "how": "개인 링크의 [이전 거부하기], 또는 " + _return_url()
                              + " 에서 휴대전화 인증 후"})
    return rights


def _return_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("consent:return_start")


def _validity(record: ConsentRecord) -> dict:
    start = timezone.localtime(record.created_at).isoformat()
    plan = record.plan
    if record.action == Action.ANSWER:
        terms = ("동의는 철회할 때까지 유효합니다. 제공받는 자가 고지한 내용(항목, 목적, 보유 "
                 "기간, 거부 조건)이 바뀌면 새로 동의를 받습니다. 제공받는 자의 보유·이용 기간: "
                 f"{plan.retention}")
    elif record.action == Action.EARLY_REQUEST:
        terms = "다음 이전 때까지 유효하며, 이전되기 전에는 철회할 수 있습니다."
    else:
        terms = "이 기록은 변경 사항을 기록한 것으로, 이후 새 기록이 있을 때까지 유효합니다."
    return {"from": start, "until": "", "terms": terms,
            "plan": {"lineage": str(plan.lineage), "version": plan.version}}


def _privacy_policy(record: ConsentRecord) -> dict:
    """The privacy page in force when the record was written (stored on it)."""
    if not record.privacy_hash:
        return {"url": "", "permalink": "", "version": 0, "sha256": ""}
    base = settings.PUBLIC_BASE_URL
    return {"url": base + reverse("governance:privacy"),
            "permalink": base + reverse("governance:privacy_version",
                                        args=[record.privacy_hash]),
            "version": record.privacy_version, "sha256": record.privacy_hash}


def _listed(items: list[dict], moves: str) -> list[dict]:
    keep = {"other_basis": ("key", "label", "lawfulBasis"),
            "stays": ("key", "label", "staysBecause")}.get(moves, ("key", "label"))
    return [{k: i[k] for k in keep} for i in items if i["moves"] == moves]


def _audit_checkpoint(record: ConsentRecord) -> dict | None:
    """The first checkpoint the witnesses co-signed past this record's audit event: null
    until it is sealed and co-signed, then always the same (docs/audit.md, "Witnesses")."""
    from audit.selectors import witnessed_checkpoint_covering

    if not record.request_id:
        return None
    # Events recorded before 2026-12-01 named the request ("consent_request", its public
    # id); the log is append-only, so an earlier record's event keeps that name.
    return witnessed_checkpoint_covering(
        targets=[("consent.consentrequest", str(record.request_id)),
                 ("consent_request", str(record.request.public_id))],
        receipt=str(record.receipt_id))


def receipt_build(record: ConsentRecord) -> dict:
    """The receipt of ``record`` (unsigned)."""
    plan, notice = record.plan, record.notice
    labels = {}
    if notice is not None:
        labels = {i.key: i.label for i in notice_items(plan=plan,
                                                       subject_kind=record.subject.kind,
                                                       kind=notice.kind)}
    fields = _plan_fields(record)
    standing = _standing(record)
    controllers = field_controllers(plan, on=timezone.localdate(record.created_at))
    information = [_item(field, rule, record, standing, controllers) for field, rule in fields]
    by_key = {i["key"]: i for i in information}
    labels = {**{k: i["label"] for k, i in by_key.items()}, **labels}

    def items(keys):
        return [{"key": k, "label": labels.get(k, k),
                 "piiOptional": by_key.get(k, {}).get("piiOptional", False),
                 "sensitive": by_key.get(k, {}).get("sensitive", False)} for k in keys]

    covered = record.items_agreed if record.action in (Action.ANSWER, Action.EARLY_REQUEST) \
        else record.items_declined
    sensitive = [labels.get(k, k) for k in covered if by_key.get(k, {}).get("sensitive")]
    parties = plan_parties(plan)
    policy = _privacy_policy(record)
    has_transfer_items = any(i["basis"] == Basis.NOTICE_OPT_OUT for i in information)
    created = timezone.localtime(record.created_at)
    return {
        "version": RECEIPT_VERSION,
        "recordSchema": RECORD_SCHEMA,
        "jurisdiction": "KR",
        "consentTimestamp": int(record.created_at.timestamp()),
        "timestamp": created.isoformat(),
        "collectionMethod": _COLLECTION_METHODS.get(record.channel, record.channel),
        "consentReceiptID": str(record.receipt_id),
        "changesReceiptID": str(record.changes.receipt_id) if record.changes_id else "",
        "publicKey": service_public_key_b64(),
        "language": "ko",
        "piiPrincipalId": f"subject:{record.subject.public_id}",
        "piiControllers": [_party_json(p) for p in parties],
        "policyUrl": policy["url"],
        "privacyPolicy": policy,
        "notice": {"shown": notice is not None,
                   "kind": notice.kind if notice else "",
                   "version": notice.version if notice else 0,
                   "sha256": record.notice_hash,
                   "url": notice_url(record.notice_hash) if record.notice_hash else ""},
        "sms": _sms_json(record),
        "services": [{
            "service": plan.title,
            "purposes": [{
                "purpose": plan.purpose,
                "purposeCategory": ["운영사 변경에 따른 업무 승계 (service transfer)"],
                "consentType": _CONSENT_TYPES.get(record.action, "WITHDRAWAL"),
                "piiCategory": [labels.get(k, k) for k in covered],
                "primaryPurpose": True,
                "termination": plan.retention,
                "thirdPartyDisclosure": record.action == Action.ANSWER,
                "thirdPartyName": plan.to_operator.name,
            }],
        }],
        "sensitive": bool(sensitive),
        "spiCat": sensitive,
        "piiInformation": information,
        "movesOnConsent": _listed(information, "consent"),
        "movesOnOtherBasis": _listed(information, "other_basis"),
        "stays": _listed(information, "stays"),
        "eventType": record.action,
        "eventState": _state(record),
        "itemsAgreed": items(record.items_agreed),
        "itemsDeclined": items(record.items_declined),
        "legalBasis": _LEGAL_BASIS[record.action],
        "statement": statement(record, labels),
        "channel": record.channel,
        "identityFactor": record.identity_factor,
        "recordedByOfficer": record.officer_id is not None,
        "state": _state(record),
        "withdrawalMethod": {
            "description": ("개인 링크의 상태 화면에서 [동의 철회하기]를 누르거나, 링크가 만료된 "
                            "뒤에는 아래 주소에서 휴대전화 번호로 인증번호를 받아 상태 화면으로 "
                            "들어가 철회할 수 있습니다. 콜센터로도 철회할 수 있습니다."),
            "url": _return_url(), "phone": settings.CALL_CENTRE_PHONE},
        "privacyRights": _rights(record, parties, has_transfer_items),
        "authorityParty": AUTHORITY,
        "validityDuration": _validity(record),
        "plan": {"lineage": str(plan.lineage), "version": plan.version},
        "request": str(record.request.public_id) if record.request_id else "",
        "auditCheckpoint": _audit_checkpoint(record),
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
                          "canonicalization": CANONICALIZATION,
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
