"""Who declares figures for a plan: the roles governance names on the plan."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from governance.models import Operator, TransferPlan
from settlement.models import PartyRole


def plan_parties(plan: TransferPlan) -> dict[str, int | None]:
    """Role -> the operator id that plays it on ``plan`` (None: the plan names none)."""
    return {PartyRole.SOURCE: plan.from_operator_id,
            PartyRole.SUBCONTRACTOR: plan.subcontractor_id,
            PartyRole.CITY: plan.controller_id,
            PartyRole.RECIPIENT: plan.to_operator_id}


def roles_of(plan: TransferPlan, operator: Operator) -> set[str]:
    return {role for role, operator_id in plan_parties(plan).items()
            if operator_id == operator.pk}


def plans_declarable_by(operator: Operator) -> QuerySet[TransferPlan]:
    """Plans (not drafts) on which ``operator`` plays any declaring role."""
    return (TransferPlan.objects
            .filter(Q(from_operator=operator) | Q(to_operator=operator)
                    | Q(subcontractor=operator) | Q(controller=operator))
            .exclude(status__in=(TransferPlan.Status.DRAFT, TransferPlan.Status.SUBMITTED)))
