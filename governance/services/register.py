"""The registers of what moved: third-party provisions (PIPA Art. 17, the Decree Art. 15
register) and entrustment changes (Art. 26), kept apart.

A release under a plan may carry both: the city's data handed by its processor to its next
processor is an entrustment change, the outgoing operator's own data provided on consent or
on notice is a provision. `release_register` splits the items by `policy.register_for`
(who controls each field under the plan's roles) and writes one row in each register that
has items, each item with its own ground. Non-personal items are in neither. A rehearsal
plan's releases provide nothing and reach neither register.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from audit.services import audit_event
from governance.models import EntrustmentRecord, FieldRule, ProvisionRecord, TransferPlan
from governance.policy import Register, register_for
from governance.selectors import plan_inputs
from governance.services.common import Actor, GovernanceError, acting

# The statutory ground of a provision, per basis.
STATUTORY_GROUNDS = {
    FieldRule.Basis.LEGAL_OBLIGATION: "법령상 의무 (개인정보 보호법 제17조 제1항 제2호)",
    FieldRule.Basis.NOTICE_OPT_OUT: "개인정보 보호법 제27조 (영업양도 등에 따른 이전, 고지)",
    FieldRule.Basis.CONSENT: "개인정보 보호법 제17조 제1항 제1호 (정보주체의 동의)",
}
# The ground of an entrustment change, per basis that let the item move.
ENTRUSTMENT_GROUNDS = {
    FieldRule.Basis.ENTRUSTMENT_RETURN: "개인정보 보호법 제26조 (업무위탁: 위탁자의 지시에 따른 "
                                        "반환 또는 새 수탁자로의 인계)",
    FieldRule.Basis.LEGAL_OBLIGATION: "개인정보 보호법 제26조 (업무위탁: 위탁자가 법령에 따라 "
                                      "보존하는 기록의 새 수탁자로의 인계)",
}


@dataclass(frozen=True)
class ReleaseRegistered:
    """What a release left in the registers (None where it had no item for one)."""

    provision: ProvisionRecord | None
    entrustment: EntrustmentRecord | None


def _split(plan: TransferPlan, items: list[str]
           ) -> tuple[dict[str, str], dict[str, str]]:
    """The provision items and the entrustment items, each with its ground."""
    inputs = plan_inputs(plan)
    by_key = {rule.field_key: (rule, ownership) for pairs in inputs.rules_by_kind.values()
              for rule, ownership in pairs}
    missing = [k for k in items if k not in by_key]
    if missing:
        raise GovernanceError(f"계획이 허용하지 않는 항목입니다: {missing}")
    provided, entrusted = {}, {}
    for key in items:
        rule, ownership = by_key[key]
        try:
            register = register_for(rule, ownership, inputs.timing.parties)
        except ValueError as exc:
            raise GovernanceError(f"계획이 허용하지 않는 항목입니다: {key} "
                                  f"(prohibited, or its basis does not fit the roles)") from exc
        if register is Register.PROVISION:
            provided[key] = STATUTORY_GROUNDS[rule.basis]
        elif register is Register.ENTRUSTMENT:
            entrusted[key] = ENTRUSTMENT_GROUNDS[rule.basis]
    return provided, entrusted


def _joined(grounds: dict[str, str]) -> str:
    return "; ".join(sorted(set(grounds.values())))


def _subjects_carrying(keys: Iterable[str], groups: list[tuple[frozenset[str], int]]) -> int:
    wanted = set(keys)
    return sum(n for fields, n in groups if fields & wanted)


@transaction.atomic
def release_register(*, plan: TransferPlan, items: Iterable[str], subject_count: int,
                     started_at: datetime, by: Actor, ended_at: datetime | None = None,
                     file_name: str = "", reference: str = "",
                     groups: Iterable[tuple[Iterable[str], int]] | None = None
                     ) -> ReleaseRegistered:
    """Record what one release under ``plan`` moved: its provision items in the provision
    register, its entrustment items in the entrustment register (a row each, only where
    there are items), each item with its ground. ``items`` are field keys that moved; an
    item the plan could not have moved (not in the plan, prohibited, a basis that does not
    fit the roles) is refused and nothing is written. A rehearsal plan writes nothing.

    ``groups``: the release's subjects by the items each carried (field keys, number of
    subjects); each register row then counts the subjects that carried one of its items.
    Without it both rows count ``subject_count``, all the release's subjects."""
    items = sorted(set(items))
    if subject_count < 0:
        raise GovernanceError("subject_count must not be negative")
    provided, entrusted = _split(plan, items)
    if plan.rehearsal:
        return ReleaseRegistered(None, None)
    shapes = None if groups is None else [(frozenset(f), int(n)) for f, n in groups]
    provided_count = (subject_count if shapes is None
                      else _subjects_carrying(provided, shapes))
    entrusted_count = (subject_count if shapes is None
                       else _subjects_carrying(entrusted, shapes))
    name = file_name or f"{plan.title} v{plan.version}"
    provision = entrustment = None
    if provided:
        provision = ProvisionRecord.objects.create(
            plan=plan, recipient_id=plan.to_operator_id, file_name=name, purpose=plan.purpose,
            statutory_ground=_joined(provided), items=sorted(provided), item_grounds=provided,
            subject_count=provided_count, provided_from=started_at, provided_until=ended_at,
            method=plan.method, recipient_limits=plan.recipient_limits, reference=reference)
        audit_event(by=acting(by), action="provision.recorded", target=provision, details={
            "plan_id": plan.pk, "items": sorted(provided), "subject_count": provided_count,
            "reference": reference})
    if entrusted:
        entrustment = EntrustmentRecord.objects.create(
            plan=plan, controller_id=plan.controller_id, from_processor_id=plan.from_operator_id,
            to_processor_id=plan.to_operator_id, file_name=name, entrusted_work=plan.purpose,
            items=sorted(entrusted), item_grounds=entrusted, subject_count=entrusted_count,
            started_at=started_at, ended_at=ended_at, method=plan.method,
            reference=reference)
        audit_event(by=acting(by), action="entrustment.recorded", target=entrustment, details={
            "plan_id": plan.pk, "items": sorted(entrusted), "subject_count": entrusted_count,
            "reference": reference})
    return ReleaseRegistered(provision, entrustment)


def provision_record(*, plan: TransferPlan, items: Iterable[str], subject_count: int,
                     provided_from: datetime, by: Actor, provided_until: datetime | None = None,
                     file_name: str = "", reference: str = "",
                     groups: Iterable[tuple[Iterable[str], int]] | None = None
                     ) -> ProvisionRecord | None:
    """`release_register` under its older name (transfers calls it for each release):
    returns the provision row, or None when the release provided nothing to a third party
    (only entrustment or non-personal items, or a rehearsal)."""
    return release_register(plan=plan, items=items, subject_count=subject_count,
                            started_at=provided_from, ended_at=provided_until, by=by,
                            file_name=file_name, reference=reference,
                            groups=groups).provision
