"""Who controls each field: ownership records, disputes and the rulings that settle them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event
from governance.models import Field, FieldOwnership, Operator, OwnershipDispute, Ruling
from governance.services.common import Actor, GovernanceError, InvalidTransition, acting


@transaction.atomic
def ownership_set(*, field: Field, operator: Operator, role: str, by: Actor, ground: str = "",
                  evidence: str = "", since: dt.date | None = None,
                  ruling: Ruling | None = None) -> FieldOwnership:
    """Record that ``operator`` is now the field's controller (or a processor).

    The previous holder of the same role (other than this operator) is ended the day before.
    """
    since = since or timezone.localdate()
    if role not in Operator.Role.values:
        raise GovernanceError(f"unknown role: {role}")
    current = FieldOwnership.objects.select_for_update().filter(
        field=field, role=role, until__isnull=True)
    for row in current.exclude(operator=operator):
        row.until = since
        row.save(update_fields=["until"])
        audit_event(by=acting(by), action="ownership.ended", target=row,
                    details={"field": field.key, "operator": operator.code})
    row = current.filter(operator=operator).first()
    if row is None:
        row = FieldOwnership(field=field, operator=operator, role=role, since=since)
    row.ground, row.evidence, row.ruling = ground, evidence, ruling
    row.save()
    audit_event(by=acting(by), action="ownership.set", target=row,
                details={"field": field.key, "operator": operator.code,
                         "role": role, "ruling_id": ruling.pk if ruling else None})
    return row


@transaction.atomic
def dispute_open(*, title: str, fields: Iterable[Field], claimant: Operator,
                 counter_claimant: Operator, claimant_ground: str, by: Actor,
                 counter_ground: str = "", opened_on: dt.date | None = None,
                 referred_on: dt.date | None = None) -> OwnershipDispute:
    """Open a dispute: until it is ruled on, its fields move only with the subject's consent."""
    fields = list(fields)
    if not fields:
        raise GovernanceError("분쟁 대상 항목을 하나 이상 고르세요. (choose at least one field)")
    if claimant.pk == counter_claimant.pk:
        raise GovernanceError("주장자와 상대방이 같습니다. (claimant and counter-claimant are "
                              "the same)")
    dispute = OwnershipDispute.objects.create(
        title=title, claimant=claimant, counter_claimant=counter_claimant,
        claimant_ground=claimant_ground, counter_ground=counter_ground,
        opened_on=opened_on or timezone.localdate(), referred_on=referred_on,
        status=(OwnershipDispute.Status.REFERRED if referred_on
                else OwnershipDispute.Status.OPEN))
    dispute.fields.set(fields)
    audit_event(by=acting(by), action="dispute.opened", target=dispute,
                details={"fields": sorted(f.key for f in fields),
                         "claimant": claimant.code,
                         "counter_claimant": counter_claimant.code})
    return dispute


def _lock_unsettled(dispute: OwnershipDispute) -> OwnershipDispute:
    locked = OwnershipDispute.objects.select_for_update().get(pk=dispute.pk)
    if locked.status not in OwnershipDispute.UNSETTLED:
        raise InvalidTransition(f"이미 종결된 분쟁입니다 ({locked.get_status_display()}). "
                                "(the dispute is already settled)")
    return locked


@transaction.atomic
def dispute_refer(*, dispute: OwnershipDispute, by: Actor,
                  referred_on: dt.date | None = None) -> OwnershipDispute:
    dispute = _lock_unsettled(dispute)
    dispute.referred_on = referred_on or timezone.localdate()
    dispute.status = OwnershipDispute.Status.REFERRED
    dispute.save(update_fields=["referred_on", "status"])
    audit_event(by=acting(by), action="dispute.referred", target=dispute,
                details={"referred_on": dispute.referred_on.isoformat()})
    return dispute


@transaction.atomic
def dispute_withdraw(*, dispute: OwnershipDispute, by: Actor) -> OwnershipDispute:
    dispute = _lock_unsettled(dispute)
    dispute.status = OwnershipDispute.Status.WITHDRAWN
    dispute.save(update_fields=["status"])
    audit_event(by=acting(by), action="dispute.withdrawn", target=dispute)
    return dispute


@transaction.atomic
def ruling_record(*, dispute: OwnershipDispute, authority: str, decided_on: dt.date,
                  controller: Operator, outcome: str, by: Actor, reference: str = "",
                  processor: Operator | None = None, effect: str = "") -> Ruling:
    """Settle a dispute: the ruling names the controller (and processor) of its fields.

    From now on the plan's basis for those fields applies instead of "disputed".
    """
    dispute = _lock_unsettled(dispute)
    ruling = Ruling.objects.create(
        dispute=dispute, authority=authority, decided_on=decided_on, reference=reference,
        controller=controller, processor=processor, outcome=outcome, effect=effect)
    dispute.status = OwnershipDispute.Status.RULED
    dispute.save(update_fields=["status"])
    audit_event(by=acting(by), action="ruling.recorded", target=ruling,
                details={"dispute_id": dispute.pk,
                         "controller": controller.code,
                         "processor": processor.code if processor else None,
                         "decided_on": decided_on.isoformat()})
    ground = f"{authority} {decided_on.isoformat()} {reference}".strip()
    for field in dispute.fields.all():
        ownership_set(field=field, operator=controller, role=Operator.Role.CONTROLLER, by=by,
                      ground=ground, since=decided_on, ruling=ruling)
        if processor is not None:
            ownership_set(field=field, operator=processor, role=Operator.Role.PROCESSOR, by=by,
                          ground=ground, since=decided_on, ruling=ruling)
    return ruling
