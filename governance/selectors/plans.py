"""Reads of plans and operators: current keys, plan versions and rules, who is who in a plan
(`plan_roles`), the catalogue's ownership of its fields and whether each field's basis fits
it (`plan_role_checks`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from django.db.models import Q, QuerySet
from django.utils import timezone

from governance.models import (
    FieldOwnership,
    FieldRule,
    Operator,
    OperatorKey,
    OwnershipDispute,
    TransferPlan,
)
from governance.policy import Ownership, Parties, role_fits

# --- Operators ----------------------------------------------------------------------------


def operator_current_key(operator: Operator, purpose: str, at: datetime | None = None
                         ) -> OperatorKey | None:
    """The operator's key for ``purpose`` valid at ``at`` (now by default), newest first."""
    at = at or timezone.now()
    return (OperatorKey.objects.filter(operator=operator, purpose=purpose, valid_from__lte=at)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
            .order_by("-valid_from", "-id").first())


# --- Plans --------------------------------------------------------------------------------


def plan_versions(plan: TransferPlan) -> QuerySet[TransferPlan]:
    return TransferPlan.objects.filter(lineage=plan.lineage).order_by("version")


def plan_latest_version(plan: TransferPlan) -> TransferPlan:
    return plan_versions(plan).last()


def plan_rules(plan: TransferPlan) -> list[FieldRule]:
    return list(plan.rules.select_related("field").order_by("field__subject_kind",
                                                              "field__position", "field__key"))


@dataclass(frozen=True)
class PlanRoles:
    """Who is who in a plan (PIPA Arts. 17, 26): the ``controller`` on whose behalf the
    operators process the programme's data (None while the plan names none), the
    ``outgoing_processor`` (the plan's `from_operator`), the ``incoming_processor`` (its
    `to_operator`) and the outgoing processor's ``subcontractor`` (None when it has none).

    ``field_controllers``: field key -> the operator that controls that field of the plan
    now, by the catalogue's ownership and rulings (absent: nobody recorded). A field the
    outgoing operator controls itself (its own data) is provided to the incoming operator as
    a third party; a field the plan's controller controls moves between its processors."""

    controller: Operator | None
    outgoing_processor: Operator
    incoming_processor: Operator
    subcontractor: Operator | None
    field_controllers: Mapping[str, Operator]

    @property
    def processors(self) -> tuple[Operator, ...]:
        """The parties acting on the controller's behalf, outgoing first."""
        return tuple(p for p in (self.outgoing_processor, self.subcontractor,
                                 self.incoming_processor) if p is not None)

    def controls_itself(self, field_key: str) -> bool:
        """Whether the outgoing operator controls ``field_key`` itself (its own data)."""
        owner = self.field_controllers.get(field_key)
        return owner is not None and owner.pk == self.outgoing_processor.pk


def plan_roles(plan: TransferPlan) -> PlanRoles:
    """The parties of ``plan`` and the controller of each of its fields (a few queries)."""
    ids = {plan.controller_id, plan.from_operator_id, plan.to_operator_id,
           plan.subcontractor_id} - {None}
    owners = field_current_owners(plan.rules.values_list("field_id", flat=True))
    ids |= {owner for owner, _ in owners.values() if owner is not None}
    by_id = Operator.objects.in_bulk(ids)
    keys = dict(plan.rules.values_list("field_id", "field__key"))
    return PlanRoles(
        controller=by_id.get(plan.controller_id),
        outgoing_processor=by_id[plan.from_operator_id],
        incoming_processor=by_id[plan.to_operator_id],
        subcontractor=by_id.get(plan.subcontractor_id),
        field_controllers=MappingProxyType({
            keys[field_id]: by_id[owner] for field_id, (owner, _) in owners.items()
            if owner is not None}))


def field_current_owners(field_ids: Iterable[int]) -> dict[int, tuple[int | None, int | None]]:
    """Field id -> (its controller's operator id, its processor's operator id) as the
    catalogue's ownership (and the rulings it cites) records them now; None: not recorded."""
    owners: dict[int, list[int | None]] = {pk: [None, None] for pk in field_ids}
    rows = (FieldOwnership.objects.filter(field_id__in=list(owners), until__isnull=True)
            .order_by("since", "id").values_list("field_id", "role", "operator_id"))
    for field_id, role, operator_id in rows:
        owners[field_id][0 if role == Operator.Role.CONTROLLER else 1] = operator_id
    return {pk: (controller, processor) for pk, (controller, processor) in owners.items()}


def plan_in_force_for(from_operator: Operator, to_operator: Operator) -> TransferPlan | None:
    return (TransferPlan.objects.filter(from_operator=from_operator, to_operator=to_operator,
                                        status__in=TransferPlan.IN_FORCE)
            .order_by("-approved_at").first())


def plan_notice_kinds(plan: TransferPlan) -> set[str]:
    """The subject kinds with Art. 27 (`notice_opt_out`) fields in the plan: whom its notice
    has to reach."""
    return set(plan.rules.filter(basis=FieldRule.Basis.NOTICE_OPT_OUT)
               .values_list("field__subject_kind", flat=True))


def field_disputed_ids() -> set[int]:
    """Ids of fields under a dispute that no ruling has settled yet."""
    return set(OwnershipDispute.fields.through.objects.filter(
        ownershipdispute__status__in=OwnershipDispute.UNSETTLED).values_list("field_id",
                                                                             flat=True))


def plan_parties(plan: TransferPlan) -> Parties:
    """The plan's controller, outgoing and incoming operators, as the policy reads them."""
    return Parties(controller=plan.controller_id, outgoing=plan.from_operator_id,
                   incoming=plan.to_operator_id)


# --- Role fit, per field, before approval --------------------------------------------------


@dataclass(frozen=True)
class RoleCheck:
    field_key: str
    label: str
    basis: str
    controller: str  # the field's controller as the catalogue records it ("" if none)
    fits: bool
    ground: str = ""  # why that operator controls it (the ownership row's ground)

    @property
    def basis_label(self) -> str:
        """"entrustment_return" -> "위탁 반환 (PIPA Art. 26)", as the rules' table says it."""
        try:
            return FieldRule.Basis(self.basis).label
        except ValueError:
            return self.basis


def plan_role_checks(plan: TransferPlan) -> list[RoleCheck]:
    """Per field of the plan: whether its basis fits who controls the field
    (`policy.role_fits`); a misfit is refused with `denied_role_mismatch`."""
    rules = plan_rules(plan)
    owners = field_current_owners(r.field_id for r in rules)
    names = dict(Operator.objects.filter(
        pk__in={c for c, _ in owners.values() if c is not None}).values_list("pk", "name"))
    grounds = dict(FieldOwnership.objects.filter(
        field_id__in=list(owners), role=Operator.Role.CONTROLLER, until__isnull=True)
        .order_by("since", "id").values_list("field_id", "ground"))
    parties = plan_parties(plan)
    checks = []
    for rule in rules:
        controller, processor = owners[rule.field_id]
        ownership = Ownership(controller=controller, processor=processor)
        checks.append(RoleCheck(rule.field.key, rule.field.label_ko, rule.basis,
                                names.get(controller, ""),
                                role_fits(rule.basis, ownership, parties),
                                grounds.get(rule.field_id, "")))
    return checks
