"""The Decree Art. 15 register: every provision of personal data to a third party."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from governance.models import FieldRule, ProvisionRecord, TransferPlan
from governance.services.common import Actor, GovernanceError, record

# The statutory ground each basis stands for, as the register shows it.
STATUTORY_GROUNDS = {
    FieldRule.Basis.NOT_PERSONAL: "개인정보 아님",
    FieldRule.Basis.ENTRUSTMENT_RETURN: "개인정보 보호법 제26조 (업무위탁 반환)",
    FieldRule.Basis.LEGAL_OBLIGATION: "법령상 의무 (개인정보 보호법 제17조 제1항 제2호)",
    FieldRule.Basis.NOTICE_OPT_OUT: "개인정보 보호법 제27조 (영업양도 등에 따른 이전, 고지)",
    FieldRule.Basis.CONSENT: "개인정보 보호법 제17조 제1항 제1호 (정보주체의 동의)",
}


def statutory_ground_for(plan: TransferPlan, field_keys: Iterable[str]) -> str:
    bases = dict(plan.rules.filter(field__key__in=list(field_keys))
                 .values_list("field__key", "basis"))
    grounds = sorted({STATUTORY_GROUNDS[b] for b in bases.values() if b in STATUTORY_GROUNDS})
    return "; ".join(grounds)


@transaction.atomic
def provision_record(*, plan: TransferPlan, items: Iterable[str], subject_count: int,
                     provided_from: datetime, by: Actor, provided_until: datetime | None = None,
                     file_name: str = "", reference: str = "") -> ProvisionRecord:
    """Add a register row for one provision (a release) under ``plan``.

    ``items`` are field keys; each must have a rule in the plan other than `prohibited`.
    Recipient, purpose, method and the limits on the recipient come from the plan.
    """
    items = sorted(set(items))
    rules = dict(plan.rules.filter(field__key__in=items).values_list("field__key", "basis"))
    missing = [k for k in items if k not in rules]
    if missing or any(b == FieldRule.Basis.PROHIBITED for b in rules.values()):
        raise GovernanceError(f"계획이 허용하지 않는 항목입니다: {missing or 'prohibited'}")
    if subject_count < 0:
        raise GovernanceError("subject_count must not be negative")
    row = ProvisionRecord.objects.create(
        plan=plan, recipient_id=plan.to_operator_id,
        file_name=file_name or f"{plan.title} v{plan.version}",
        purpose=plan.purpose, statutory_ground=statutory_ground_for(plan, items), items=items,
        subject_count=subject_count, provided_from=provided_from, provided_until=provided_until,
        method=plan.method, recipient_limits=plan.recipient_limits, reference=reference)
    record(by, "provision.recorded", row, {"plan_id": plan.pk, "items": items,
                                           "subject_count": subject_count,
                                           "reference": reference})
    return row
