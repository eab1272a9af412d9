"""What every governance service shares: errors, the actor of a change, the audit call."""

from __future__ import annotations

from typing import Any

from audit.services import audit_record, officer_actor


class GovernanceError(Exception):
    """A request the rules refuse; the message is safe to show to an officer."""


class TwoPersonRuleViolation(GovernanceError):
    pass


class PlanFrozen(GovernanceError):
    pass


class InvalidTransition(GovernanceError):
    pass


Actor = Any  # a User, an (actor_type, actor_id) pair, or None for the system


def actor_of(by: Actor) -> tuple[str, str]:
    if by is None:
        return "system", "system:governance"
    if isinstance(by, tuple):
        return by
    return officer_actor(by)


def user_of(by: Actor):
    """The officer behind ``by`` (None for the system or an operator)."""
    if by is None or isinstance(by, tuple):
        return None
    return by


def record(by: Actor, action: str, target, details: dict[str, Any] | None = None,
           target_type: str | None = None):
    actor_type, actor_id = actor_of(by)
    return audit_record(
        actor_type=actor_type, actor_id=actor_id, action=action,
        target_type=target_type or f"governance.{type(target).__name__.lower()}",
        target_id=target.pk, details=details or {},
    )
