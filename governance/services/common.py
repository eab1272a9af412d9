"""What every governance service shares: errors, and the actor of a change."""

from __future__ import annotations

from typing import Any

from audit.services import actor_pair, system_actor


class GovernanceError(Exception):
    """A request the rules refuse; the message is safe to show to an officer."""


class TwoPersonRuleViolation(GovernanceError):
    pass


class PlanFrozen(GovernanceError):
    pass


class InvalidTransition(GovernanceError):
    pass


Actor = Any  # a User, an (actor_type, actor_id) pair, or None for the system

# Governance acting on its own (a command, a task, the privacy page's next version).
GOVERNANCE = system_actor("governance")


def acting(by: Actor) -> Actor:
    """Who ``by`` is for `audit.services.audit_event`: None (the system) is `GOVERNANCE`."""
    return GOVERNANCE if by is None else by


def actor_of(by: Actor) -> tuple[str, str]:
    """The (actor_type, actor_id) pair recorded for ``by`` (``system:governance`` for None)."""
    return actor_pair(acting(by))


def user_of(by: Actor):
    """The officer behind ``by`` (None for the system or an operator)."""
    if by is None or isinstance(by, tuple):
        return None
    return by
