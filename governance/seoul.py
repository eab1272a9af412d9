"""The Seoul programme's reference data: parties, the field catalogue and the plan's bases.

Shared by the demo (`governance/demo.py`) and the test fixtures, so both describe the same
programme. Only public facts and synthetic values live here; no key, no personal datum.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from governance.crypto import brn_check_digit
from governance.models import Field, FieldOwnership, FieldRule, Operator
from governance.services import catalogue_object_save, ownership_set
from governance.services.common import GOVERNANCE, Actor

Basis = FieldRule.Basis  # the basis each Seoul field has in the KEPF -> Shinhan plan

OPERATORS = {
    # code: (name, English name, role, address, phone, privacy officer, officer's contact).
    # The privacy officers are named by their office, never as a person (demo values).
    "SEOUL": ("서울특별시", "Seoul Metropolitan Government", Operator.Role.CONTROLLER,
              "서울특별시 중구 세종대로 110", "02-120",
              "서울특별시 개인정보 보호책임자 (데모)", "02-120 (다산콜센터, 데모 연락처)"),
    "KEPF": ("한국간편결제진흥원", "Korea Easy Payment Foundation (KEPF)",
             Operator.Role.PROCESSOR, "서울특별시 (데모 주소)", "02-0000-0001",
             "한국간편결제진흥원 개인정보 보호책임자 (데모)", "02-0000-0101 (데모 연락처)"),
    "SHINHAN": ("신한카드 컨소시엄", "Shinhan Card consortium", Operator.Role.PROCESSOR,
                "서울특별시 (데모 주소)", "02-0000-0002",
                "신한카드 컨소시엄 개인정보 보호책임자 (데모)", "02-0000-0102 (데모 연락처)"),
    "BIZPLAY": ("비즈플레이 컨소시엄", "Bizplay consortium", Operator.Role.PROCESSOR,
                "서울특별시 (데모 주소)", "02-0000-0003",
                "비즈플레이 컨소시엄 개인정보 보호책임자 (데모)", "02-0000-0103 (데모 연락처)"),
}

# Who controls each field, and why (PIPA Arts. 17, 26, 27). The programme's data is the
# city's: it decides why and how it is processed, and the operator processes it on its
# behalf (the PIPC's 2022 answer for the merchants' core data). What the operator collected
# for its own service, under its own terms with the merchant or user, is its own: it may
# provide it to a third party only with consent (Art. 17) or hand it over with its business
# on notice (Art. 27).
CITY = "SEOUL"
OUTGOING = "KEPF"
PROGRAMME = (CITY, "서울사랑상품권 사업을 위해 수집·생성된 정보: 서울시가 처리 목적과 "
                   "방법을 정하고 운영사는 위탁받아 처리함 (programme data: the city decides, "
                   "the operator processes it on the city's behalf)")
RULED = (CITY, "개인정보보호위원회 2022-03-04 해석: 운영사는 가맹점 정보에 대해 서울시의 수탁자임 "
               "(the PIPC's answer: the operator is the city's processor for merchant data)")
OWN_MERCHANT = (OUTGOING, "운영사가 자체 가맹점 서비스의 약관에 따라 가맹점에게서 직접 받은 정보 "
                          "(collected by the operator for its own merchant service)")
OWN_USER = (OUTGOING, "이용자가 운영사의 결제 앱에 가입하며 운영사와 맺은 약관에 따라 운영사가 "
                      "관리하는 정보: 운영사 변경 시 그 영업과 함께 이전 (제27조) (the user's "
                      "account with the operator's app, handed over with that business)")
OWN_ASSESSMENT = (OUTGOING, "운영사가 자체 목적으로 만든 정보 (made by the operator for its own "
                            "purposes)")
CONTROLLERS: dict[str, tuple[str, str]] = {
    "merchant.business_registration_number": PROGRAMME,
    "merchant.shop_name": PROGRAMME,
    "merchant.representative_name": RULED,
    "merchant.representative_phone": RULED,
    "merchant.address": PROGRAMME,
    "merchant.business_type": PROGRAMME,
    "merchant.qr_merchant_id": PROGRAMME,
    "merchant.fee_tier": PROGRAMME,
    "merchant.settlement_history": PROGRAMME,
    "merchant.settlement_bank_account": OWN_MERCHANT,
    "merchant.email": OWN_MERCHANT,
    "merchant.marketing_opt_in": OWN_MERCHANT,
    "merchant.internal_risk_score": OWN_ASSESSMENT,
    "user.phone": OWN_USER,
    "user.name": OWN_USER,
    "user.certificate_balance": OWN_USER,
    "user.issuance_records": (CITY, "지역사랑상품권 발행·환불 기록: 서울시가 보존할 사업 기록 "
                                    "(the programme's issuance records, kept for the city)"),
    "user.purchase_history": OWN_USER,
    "user.refund_account": OWN_USER,
    "user.device_id": OWN_ASSESSMENT,
}
OWNERSHIP_SINCE = dt.date(2019, 1, 1)  # demo date: when the operating contract began

# key, kind, Korean label, English label, category, personal, sensitivity, fides, data type,
# and the basis the KEPF -> Shinhan plan gives it (with "required" for consent items).
FIELDS: list[tuple] = [
    ("merchant.business_registration_number", "merchant", "사업자등록번호",
     "Business registration number", "identity", True, "medium", "user.government_id", "brn",
     Basis.ENTRUSTMENT_RETURN, False),
    ("merchant.shop_name", "merchant", "상호명", "Shop name", "business", False, "low",
     "system.operations", "text", Basis.NOT_PERSONAL, False),
    ("merchant.representative_name", "merchant", "대표자명", "Representative name", "identity",
     True, "medium", "user.name", "text", Basis.ENTRUSTMENT_RETURN, False),
    ("merchant.representative_phone", "merchant", "대표자 전화번호", "Representative phone",
     "contact", True, "medium", "user.contact.phone_number", "phone", Basis.ENTRUSTMENT_RETURN,
     False),
    ("merchant.address", "merchant", "사업장 주소", "Business address", "business", False, "low",
     "system.operations", "text", Basis.NOT_PERSONAL, False),
    ("merchant.business_type", "merchant", "업종", "Business type", "business", False, "low",
     "system.operations", "text", Basis.NOT_PERSONAL, False),
    ("merchant.qr_merchant_id", "merchant", "QR 가맹점 ID (MPM)", "QR merchant id",
     "operational", False, "low", "system.operations", "text", Basis.NOT_PERSONAL, False),
    ("merchant.fee_tier", "merchant", "수수료 등급", "Fee tier", "operational", False, "low",
     "system.operations", "text", Basis.NOT_PERSONAL, False),
    ("merchant.settlement_history", "merchant", "정산 내역", "Settlement history",
     "transaction", True, "medium", "user.financial", "json", Basis.LEGAL_OBLIGATION, False),
    ("merchant.settlement_bank_account", "merchant", "정산 계좌", "Settlement bank account",
     "financial", True, "high", "user.financial.bank_account", "text", Basis.CONSENT, True),
    ("merchant.email", "merchant", "이메일", "E-mail", "contact", True, "low",
     "user.contact.email", "text", Basis.CONSENT, False),
    # Never moved as a value: a marketing consent is given to one sender for its own
    # messages (PIPA Art. 22(4)); the incoming operator asks afresh (MARKETING_REASON).
    ("merchant.marketing_opt_in", "merchant", "마케팅 수신 동의", "Marketing opt-in", "contact",
     True, "low", "user.behavior", "text", Basis.PROHIBITED, False),
    ("merchant.internal_risk_score", "merchant", "내부 위험 평가", "Internal risk score",
     "operational", True, "high", "user.behavior", "integer", Basis.PROHIBITED, False),
    ("user.phone", "user", "이용자 전화번호", "User phone", "contact", True, "medium",
     "user.contact.phone_number", "phone", Basis.NOTICE_OPT_OUT, False),
    ("user.name", "user", "이용자 이름", "User name", "identity", True, "medium", "user.name",
     "text", Basis.NOTICE_OPT_OUT, False),
    ("user.certificate_balance", "user", "상품권 잔액", "Certificate balance", "financial", True,
     "medium", "user.financial", "money", Basis.NOTICE_OPT_OUT, False),
    ("user.issuance_records", "user", "발행·환불 기록", "Issuance and refund records",
     "transaction", True, "medium", "user.financial", "json", Basis.LEGAL_OBLIGATION, False),
    ("user.purchase_history", "user", "구매 내역", "Purchase history", "transaction", True,
     "medium", "user.behavior.purchase_history", "json", Basis.CONSENT, False),
    ("user.refund_account", "user", "환불 계좌", "Refund account", "financial", True, "high",
     "user.financial.bank_account", "text", Basis.CONSENT, False),
    ("user.device_id", "user", "기기 식별자", "Device identifier", "operational", True, "medium",
     "user.device.device_identifier", "text", Basis.PROHIBITED, False),
]

# Why a field does not move (the plan's note on its rule, shown on the privacy page).
MARKETING_REASON = ("마케팅 수신 동의는 그 동의를 받은 운영사가 자기 광고를 보내는 데에만 "
                    "쓰는 별도의 동의이므로 새 운영사로 옮기지 않습니다. 새 운영사의 광고를 "
                    "받으시려면 새 운영사가 따로 묻는 동의에 답해 주십시오.")
# (A marketing consent is given to one sender for its own messages: it never moves; the
# incoming operator asks afresh. The notes are shown on the public page: Korean only.)

NOT_MOVED_REASONS = {
    "merchant.marketing_opt_in": MARKETING_REASON,
    # the operator's own assessment
    "merchant.internal_risk_score": ("운영사가 자체 목적으로 만든 평가로, 새 운영사의 업무에 "
                                     "필요하지 않아 옮기지 않습니다."),
    # the new app makes its own
    "user.device_id": "기기 식별자는 새 운영사의 앱이 새로 만들기 때문에 옮기지 않습니다.",
}

DISPUTED_FIELDS = ("merchant.representative_name", "merchant.representative_phone")

PLAN_VALUES = {
    "title": "서울사랑상품권 운영사 변경 (KEPF → 신한카드 컨소시엄)",
    "purpose": "서울사랑상품권 가맹점 결제·정산 및 이용자 상품권 관리 업무의 운영사 변경에 따른 "
               "업무 승계",
    "retention": "서울사랑상품권 운영 위탁 계약 종료 시까지 (계약 종료 후 지체 없이 파기)",
    "recipient_limits": "서울사랑상품권 운영 목적 외 이용 및 제3자 제공 금지; 계약 종료 시 파기",
    "method": "수령자 공개키로 암호화(HPKE)한 파일을 API로 제공, 서명된 명세서 첨부",
    "notice_period_days": 30,
}


@transaction.atomic
def seoul_operators_ensure(*, by: Actor = GOVERNANCE) -> dict[str, Operator]:
    operators = {}
    for code, (name, name_en, role, address, phone, officer, contact) in OPERATORS.items():
        operator = Operator.objects.filter(code=code).first()
        if operator is None:
            operator = catalogue_object_save(obj=Operator(
                code=code, name=name, name_en=name_en, role=role, address=address,
                phone=phone, privacy_officer_name=officer, privacy_officer_contact=contact),
                by=by)
        elif not operator.privacy_officer_name and not operator.privacy_officer_contact:
            # Registered before operators named their privacy officer.
            operator.privacy_officer_name, operator.privacy_officer_contact = officer, contact
            catalogue_object_save(obj=operator, by=by)
        operators[code] = operator
    return operators


@transaction.atomic
def seoul_catalogue_ensure(*, by: Actor = GOVERNANCE) -> dict[str, Field]:
    fields = {}
    for position, (key, kind, ko, en, category, personal, sensitivity, fides, data_type,
                   _basis, _required) in enumerate(FIELDS):
        field = Field.objects.filter(key=key).first()
        if field is None:
            field = catalogue_object_save(obj=Field(
                key=key, subject_kind=kind, label_ko=ko, label_en=en, category=category,
                personal=personal, sensitivity=sensitivity, fides_category=fides,
                data_type=data_type, position=position), by=by)
        fields[key] = field
    seoul_ownership_ensure(fields=fields, by=by)
    return fields


@transaction.atomic
def seoul_ownership_ensure(*, fields: dict[str, Field], by: Actor = GOVERNANCE) -> None:
    """Record each field's controller as the map says (and KEPF as the city's processor of
    the city's fields), for the fields whose controller nobody has recorded yet: a ruling or
    an officer's record is never overwritten."""
    operators = seoul_operators_ensure(by=by)
    recorded = set(FieldOwnership.objects.filter(
        field__in=fields.values(), role=Operator.Role.CONTROLLER, until__isnull=True)
        .values_list("field__key", flat=True))
    for key, field in fields.items():
        if key in recorded or key not in CONTROLLERS:
            continue
        code, reason = CONTROLLERS[key]
        ownership_set(field=field, operator=operators[code], role=Operator.Role.CONTROLLER,
                      ground=reason, since=OWNERSHIP_SINCE, by=by)
        if code == CITY:
            ownership_set(field=field, operator=operators[OUTGOING],
                          role=Operator.Role.PROCESSOR, since=OWNERSHIP_SINCE, by=by,
                          ground="서울사랑상품권 운영 위탁 계약 (operating contract with the city)")


def seoul_plan_rules(fields: dict[str, Field]) -> list[tuple[Field, str, bool]]:
    return [(fields[key], basis, required) for key, *_rest, basis, required in FIELDS]


def synthetic_phone(n: int) -> str:
    """A synthetic mobile number in the unassigned 010-0000-xxxx range (n < 10,000)."""
    return f"010-0000-{n % 10_000:04d}"


def synthetic_brn(n: int) -> str:
    """A check-digit-valid synthetic business registration number (XXX-XX-XXXXX)."""
    first_nine = f"{900_000_000 + n % 99_999_999:09d}"
    digits = first_nine + str(brn_check_digit(first_nine))
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
