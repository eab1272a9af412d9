"""Transfer plans: drafting, the approval workflow (two-person rule) and versions.

draft -> submitted -> approved -> active -> completed; any of them -> cancelled; a submitted
plan may go back to draft. An approved plan is frozen: `plan_new_version` copies it into a new
draft, and approving that version supersedes the older one (consent given to the older
version's notice no longer counts: see governance.policy).

Transitions are conditional updates on the status (and, for approval, on the submitter), so
two officers clicking at once cannot both win, and nobody approves their own submission.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_event
from core.korean import josa
from governance.models import Field, FieldOwnership, FieldRule, Operator, TransferPlan
from governance.services.common import (
    Actor,
    GovernanceError,
    InvalidTransition,
    PlanFrozen,
    TwoPersonRuleViolation,
    acting,
    user_of,
)

Status = TransferPlan.Status

PLAN_EDITABLE_FIELDS = (
    "title", "controller", "from_operator", "to_operator", "subcontractor", "purpose",
    "retention", "recipient_limits", "method", "notice_period_days", "notice_starts_at",
    "cutover_at", "rehearsal",
)


def _require_editable(plan: TransferPlan) -> None:
    if plan.status not in TransferPlan.EDITABLE:
        quoted = f"'{plan}'"
        raise PlanFrozen(
            f"{josa(quoted, '은', '는')} {plan.get_status_display()} 상태라 수정할 수 "
            "없습니다. 새 버전을 만드세요. (Only a draft can change: create a new version.)")


def _require_distinct_parties(plan: TransferPlan) -> None:
    if plan.from_operator_id == plan.to_operator_id:
        raise GovernanceError("제공자와 수령자가 같습니다. (from and to are the same operator)")
    if plan.subcontractor_id is not None and plan.subcontractor_id in (
            plan.from_operator_id, plan.to_operator_id, plan.controller_id):
        raise GovernanceError("재수탁자는 이전·새 운영사나 개인정보처리자와 달라야 합니다. "
                              "(the subcontractor must be another party)")


def _controller_served_by(processor_id: int, fields: list[Field]) -> int | None:
    """The one controller for whom ``processor`` now processes the plan's fields, by the
    catalogue's ownership (None when it serves none or several): the plan's controller when
    the officer names none."""
    fields_processed = FieldOwnership.objects.filter(
        field__in=fields, operator_id=processor_id, role=Operator.Role.PROCESSOR,
        until__isnull=True).values("field_id")
    controllers = set(FieldOwnership.objects.filter(
        field_id__in=fields_processed, role=Operator.Role.CONTROLLER, until__isnull=True)
        .values_list("operator_id", flat=True))
    return controllers.pop() if len(controllers) == 1 else None


@transaction.atomic
def plan_create(*, by: Actor, rules: Iterable[tuple[Field, str, bool]] = (),
                **values: Any) -> TransferPlan:
    unknown = set(values) - set(PLAN_EDITABLE_FIELDS)
    if unknown:
        raise GovernanceError(f"unknown plan attributes: {sorted(unknown)}")
    rules = list(rules)
    plan = TransferPlan(created_by=user_of(by), **values)
    if values.get("controller") is None:
        # Not named: the controller whom the outgoing operator serves, by the catalogue.
        plan.controller_id = _controller_served_by(plan.from_operator_id,
                                                   [field for field, _, _ in rules])
    _require_distinct_parties(plan)
    plan.save()
    for field, basis, required in rules:
        FieldRule.objects.create(plan=plan, field=field, basis=basis, required=required)
    audit_event(by=acting(by), action="plan.created", target=plan,
                details={"version": plan.version, "lineage": str(plan.lineage),
                         "rules": plan.rules.count()})
    return plan


@transaction.atomic
def plan_update(*, plan: TransferPlan, by: Actor, **changes: Any) -> TransferPlan:
    plan = TransferPlan.objects.select_for_update().get(pk=plan.pk)
    _require_editable(plan)
    unknown = set(changes) - set(PLAN_EDITABLE_FIELDS)
    if unknown:
        raise GovernanceError(f"unknown plan attributes: {sorted(unknown)}")
    changed = sorted(k for k, v in changes.items() if getattr(plan, k) != v)
    for key, value in changes.items():
        setattr(plan, key, value)
    _require_distinct_parties(plan)
    plan.save()
    audit_event(by=acting(by), action="plan.updated", target=plan,
                details={"version": plan.version, "changed": changed})
    return plan


@transaction.atomic
def plan_rule_set(*, plan: TransferPlan, field: Field, basis: str, by: Actor,
                  required: bool = False, note: str = "") -> FieldRule:
    plan = TransferPlan.objects.select_for_update().get(pk=plan.pk)
    _require_editable(plan)
    if basis not in FieldRule.Basis.values:
        raise GovernanceError(f"unknown legal basis: {basis}")
    rule, created = FieldRule.objects.update_or_create(
        plan=plan, field=field,
        defaults={"basis": basis, "required": required and basis == FieldRule.Basis.CONSENT,
                  "note": note})
    audit_event(by=acting(by), action="plan.rule_set", target=plan,
                details={"field": field.key, "basis": basis,
                         "required": rule.required, "created": created})
    return rule


@transaction.atomic
def plan_rule_remove(*, rule: FieldRule, by: Actor) -> None:
    plan = TransferPlan.objects.select_for_update().get(pk=rule.plan_id)
    _require_editable(plan)
    key = rule.field.key
    rule.delete()
    audit_event(by=acting(by), action="plan.rule_removed", target=plan,
                details={"field": key})


def _transition(plan: TransferPlan, *, by: Actor, frm: tuple[str, ...], to: str, action: str,
                extra: dict[str, Any] | None = None, exclude_submitter: bool = False
                ) -> TransferPlan:
    qs = TransferPlan.objects.filter(pk=plan.pk, status__in=frm)
    if exclude_submitter:
        qs = qs.exclude(submitted_by=user_of(by))
    updated = qs.update(status=to, **(extra or {}))
    if updated != 1:
        current = TransferPlan.objects.get(pk=plan.pk)
        if exclude_submitter and current.status in frm:
            raise TwoPersonRuleViolation(
                "승인 요청자 본인은 승인할 수 없습니다. 다른 담당자가 승인해야 합니다. "
                "(The officer who submitted a plan cannot approve it.)")
        quoted = f"'{current}'"
        raise InvalidTransition(
            f"{josa(quoted, '은', '는')} {current.get_status_display()} 상태라 이 작업을 할 "
            f"수 없습니다. (cannot go from {current.status} to {to})")
    plan.refresh_from_db()
    audit_event(by=acting(by), action=action, target=plan,
                details={"version": plan.version, "lineage": str(plan.lineage),
                         "status": to})
    return plan


def _require_officer(by: Actor, what: str, error: type[GovernanceError] = GovernanceError):
    """Only a privacy officer (a user who may change plans) submits or approves."""
    officer = user_of(by)
    if officer is None or not officer.is_active or \
            not officer.has_perm("governance.change_transferplan"):
        raise error(f"{josa(what, '은', '는')} 개인정보 담당자만 할 수 있습니다. "
                    "(only a privacy officer)")
    return officer


@transaction.atomic
def plan_submit(*, plan: TransferPlan, by: Actor) -> TransferPlan:
    _require_officer(by, "승인 요청")
    if not plan.rules.exists():
        raise GovernanceError("항목별 이전 근거가 없습니다. (a plan needs at least one field rule)")
    return _transition(plan, by=by, frm=(Status.DRAFT,), to=Status.SUBMITTED,
                       action="plan.submitted",
                       extra={"submitted_by": user_of(by), "submitted_at": timezone.now()})


@transaction.atomic
def plan_reject(*, plan: TransferPlan, by: Actor) -> TransferPlan:
    """Send a submitted plan back to its author as a draft."""
    return _transition(plan, by=by, frm=(Status.SUBMITTED,), to=Status.DRAFT,
                       action="plan.returned", extra={"submitted_by": None,
                                                      "submitted_at": None})


@transaction.atomic
def plan_approve(*, plan: TransferPlan, by: Actor) -> TransferPlan:
    """Approve a submitted plan: only an officer who is not the submitter may do this.

    Approving a new version supersedes the lineage's older approved or active version.
    """
    officer = _require_officer(by, "승인", TwoPersonRuleViolation)
    _require_honest_notice_schedule(TransferPlan.objects.get(pk=plan.pk), timezone.now())
    plan = _transition(plan, by=by, frm=(Status.SUBMITTED,), to=Status.APPROVED,
                       action="plan.approved", exclude_submitter=True,
                       extra={"approved_by": officer, "approved_at": timezone.now()})
    superseded = list(TransferPlan.objects.filter(
        lineage=plan.lineage, version__lt=plan.version, status__in=TransferPlan.IN_FORCE))
    for older in superseded:
        _transition(older, by=by, frm=TransferPlan.IN_FORCE, to=Status.SUPERSEDED,
                    action="plan.superseded")
    return plan


# An officer who types "09:00" and approves at 09:10 has not back-dated anything.
NOTICE_START_GRACE = timedelta(minutes=15)


def _require_honest_notice_schedule(plan: TransferPlan, now) -> None:
    """Each subject's notice period runs from its own evidence, but the plan's schedule must
    not pretend either: a notice start in the past (unless the approved previous version
    already had it) would claim notices that were never sent, and a shorter period than the
    version subjects were told about would move them sooner than they were promised. Nor may
    the cut-over come before the period could have run for anyone told on the first day: the
    notice promises the move at the cut-over."""
    previous = plan.previous
    if previous is not None and plan.notice_period_days < previous.notice_period_days:
        raise GovernanceError(
            f"고지 기간을 줄일 수 없습니다 (v{previous.version}: {previous.notice_period_days}일). "
            "(a new version cannot shorten the notice period)")
    inherited = previous is not None and plan.notice_starts_at == previous.notice_starts_at
    if (plan.notice_starts_at is not None and plan.notice_starts_at < now - NOTICE_START_GRACE
            and not inherited):
        raise GovernanceError(
            "고지 시작 일시가 승인 시각보다 과거입니다. 실제로 고지를 시작할 일시를 입력하세요. "
            "(the notice start cannot be back-dated at approval)")
    if (plan.cutover_at is not None and plan.notice_starts_at is not None
            and plan.cutover_at < plan.notice_starts_at + plan.notice_period):
        raise GovernanceError(
            "전환 일시가 고지 기간이 끝나기 전입니다: 고지 시작 후 고지 기간이 지난 뒤로 정하세요. "
            "(the cut-over cannot come before the notice period can have run for anyone)")


@transaction.atomic
def plan_activate(*, plan: TransferPlan, by: Actor) -> TransferPlan:
    return _transition(plan, by=by, frm=(Status.APPROVED,), to=Status.ACTIVE,
                       action="plan.activated")


@transaction.atomic
def plan_complete(*, plan: TransferPlan, by: Actor) -> TransferPlan:
    return _transition(plan, by=by, frm=(Status.ACTIVE,), to=Status.COMPLETED,
                       action="plan.completed")


@transaction.atomic
def plan_cancel(*, plan: TransferPlan, by: Actor) -> TransferPlan:
    return _transition(plan, by=by, frm=(Status.DRAFT, Status.SUBMITTED, Status.APPROVED,
                                         Status.ACTIVE),
                       to=Status.CANCELLED, action="plan.cancelled")


@transaction.atomic
def plan_new_version(*, plan: TransferPlan, by: Actor) -> TransferPlan:
    """A new draft copying ``plan`` and its rules; it needs approval (and fresh consent)."""
    # Lock the lineage so two officers do not both create version n+1.
    versions = list(TransferPlan.objects.select_for_update().filter(lineage=plan.lineage))
    pending = [v for v in versions if v.status in (Status.DRAFT, Status.SUBMITTED)]
    if pending:
        raise GovernanceError(
            f"이미 작성 중인 버전이 있습니다: v{pending[0].version}. (a newer draft exists)")
    next_version = (TransferPlan.objects.filter(lineage=plan.lineage)
                    .aggregate(m=Max("version"))["m"] or 0) + 1
    source = TransferPlan.objects.get(pk=plan.pk)
    new = TransferPlan(lineage=source.lineage, version=next_version, previous=source,
                       created_by=user_of(by),
                       **{f: getattr(source, f) for f in PLAN_EDITABLE_FIELDS})
    new.save()
    FieldRule.objects.bulk_create([
        FieldRule(plan=new, field_id=r.field_id, basis=r.basis, required=r.required,
                  note=r.note) for r in source.rules.all()])
    audit_event(by=acting(by), action="plan.version_created", target=new,
                details={"version": new.version,
                         "lineage": str(new.lineage),
                         "previous_id": source.pk})
    return new
