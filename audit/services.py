"""Writing to the audit trail. Every app records its events through `audit_record`."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.context import current_request_id
from audit.models import AuditEvent

ActorType = AuditEvent.ActorType


def audit_record(
    *,
    actor_type: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str | int,
    details: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Record one event inside the caller's transaction.

    The event commits or rolls back with the change it describes. ``details`` must hold
    references, counts and hashes only: never a name, a phone number or another personal value.
    """
    event = AuditEvent.objects.create(
        actor_type=ActorType(actor_type),
        actor_id=str(actor_id),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        request_id=request_id if request_id is not None else current_request_id.get(),
    )
    transaction.on_commit(_schedule_sealing)
    return event


def officer_actor(user) -> tuple[str, str]:
    """The (actor_type, actor_id) pair for a logged-in officer: by id, never by name."""
    return ActorType.OFFICER, f"user:{user.pk}"


def _schedule_sealing() -> None:
    # Replaced by the sealing pipeline (audit.sealing); kept here so writers never block.
    pass
