"""Writing to the audit trail. Every app records its events through `audit_event`.

`audit_event(by=..., action=..., target=..., details=...)` is the one call apps make:

- ``by`` is who acted: an officer (a logged-in user, recorded as ``user:<id>``, never by
  name) or an ``(actor_type, actor_id)`` pair, such as `system_actor("sms")` or an operator's
  ``("operator", "operator:<code>")``.
- ``target`` is what the event is about: a model instance, recorded as its model's
  ``app_label.modelname`` and primary key (``consent.consentrequest``, ``42``), or, for
  something that is not one row, a ``(target_type, target_id)`` pair whose type follows the
  same ``<app>.<noun>`` scheme (``governance.register``). One naming scheme, checked here.
- ``details`` hold references, counts and hashes only, checked here too.

`audit_record` is the low-level writer underneath, with every column spelled out; only this
app and tests call it directly.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils import timezone

from audit.context import current_request_id
from audit.fast_insert import insert_event
from audit.models import AuditEvent
from audit.sealing import audit_seal_on_commit

ActorType = AuditEvent.ActorType


class PersonalDataInAuditDetails(ValueError):
    """A caller tried to put something that looks like personal data into an audit event."""


# Keys that name personal values; details carry references, counts and hashes instead.
_PERSONAL_KEYS = frozenset({
    "name", "full_name", "first_name", "last_name", "representative", "representative_name",
    "phone", "phone_number", "mobile", "tel", "email", "address", "birth_date", "birthday",
    "rrn", "resident_registration_number", "brn", "business_registration_number",
    "business_number",
})
_PERSONAL_VALUES = (
    # Korean mobile and landline numbers, with or without separators or +82.
    ("a phone number",
     re.compile(r"(?<![\w+])(?:\+?82[- ]?|0)1[016789][- .]?\d{3,4}[- .]?\d{4}(?!\w)")),
    ("a phone number", re.compile(r"(?<!\w)0(?:2|[3-6][1-5])[- .]\d{3,4}[- .]\d{4}(?!\w)")),
    ("a business registration number", re.compile(r"(?<!\w)\d{3}-\d{2}-\d{5}(?!\w)")),
    ("a resident registration number", re.compile(r"(?<!\w)\d{6}-[1-8]\d{6}(?!\w)")),
    ("an e-mail address", re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")),
)
# A UUID is an id, never a personal value, but its groups of hex digits can read like one
# ("-8216-4394-8546-" is +82 16 4394 8546 without the plus: about one random UUID in
# 150,000): UUIDs are taken out before the patterns are tried.
_UUID = re.compile(r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                   r"[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-])")


def _personal_label(text: str) -> str | None:
    """What personal value ``text`` looks like, or None (UUIDs in it set aside)."""
    text = _UUID.sub(" uuid ", text)
    return next((label for label, pattern in _PERSONAL_VALUES if pattern.search(text)), None)


def _check_details(value: Any, path: str = "details") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PersonalDataInAuditDetails(f"{path}: keys must be strings")
            if key.lower() in _PERSONAL_KEYS:
                raise PersonalDataInAuditDetails(
                    f"{path}.{key}: audit details must not carry personal values; "
                    "record an id or a hash instead")
            _check_details(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_details(item, f"{path}[{i}]")
    elif isinstance(value, str):
        if label := _personal_label(value):
            raise PersonalDataInAuditDetails(
                f"{path} looks like {label}; audit details must not carry personal "
                "values (record an id or a hash instead)")
    elif value is not None and not isinstance(value, bool | int | float):
        raise PersonalDataInAuditDetails(f"{path}: only JSON values may go into details")


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
    details = details or {}
    _check_details(details)
    for label, value in (("actor_id", actor_id), ("target_id", target_id)):
        if _personal_label(str(value)):
            raise PersonalDataInAuditDetails(f"{label} looks like personal data; use an id")
    event = AuditEvent(
        created_at=timezone.now(),
        actor_type=ActorType(actor_type),
        actor_id=str(actor_id),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details,
        request_id=request_id if request_id is not None else current_request_id.get(),
    )
    insert_event(event)  # audit.fast_insert: the row save() would write, for less
    audit_seal_on_commit(using=event._state.db)  # once per transaction, after its commit
    return event


# ``<app>.<noun>``: a model's ``_meta.label_lower`` or a named non-row target.
_TARGET_TYPE = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")

Actor = Any  # a logged-in officer (a User) or an (actor_type, actor_id) pair
Target = Any  # a model instance or a (target_type, target_id) pair


def audit_event(*, by: Actor, action: str, target: Target,
                details: dict[str, Any] | None = None) -> AuditEvent:
    """Record one event inside the caller's transaction (see the module docstring)."""
    actor_type, actor_id = actor_pair(by)
    target_type, target_id = target_pair(target)
    return audit_record(actor_type=actor_type, actor_id=actor_id, action=action,
                        target_type=target_type, target_id=target_id, details=details)


def actor_pair(by: Actor) -> tuple[str, str]:
    """The (actor_type, actor_id) recorded for ``by``."""
    if isinstance(by, tuple):
        actor_type, actor_id = by
        return str(actor_type), str(actor_id)
    if getattr(by, "is_authenticated", False):
        return officer_actor(by)
    raise TypeError(f"audit_event(by=...) takes an officer or an (actor_type, actor_id) "
                    f"pair, not {by!r}")


def target_pair(target: Target) -> tuple[str, str]:
    """The (target_type, target_id) recorded for ``target``, in the one naming scheme."""
    if isinstance(target, tuple):
        target_type, target_id = target
    else:
        target_type, target_id = target._meta.label_lower, target.pk
    if not _TARGET_TYPE.fullmatch(target_type):
        raise ValueError(f"audit target type {target_type!r} is not '<app>.<noun>'")
    if target_id is None:
        raise ValueError(f"audit target {target_type} has no id (not saved yet?)")
    return target_type, str(target_id)


def system_actor(name: str) -> tuple[str, str]:
    """The actor pair of a part of this service acting on its own (``system:sms``)."""
    return ActorType.SYSTEM, f"system:{name}"


def officer_actor(user) -> tuple[str, str]:
    """The (actor_type, actor_id) pair for a logged-in officer: by id, never by name."""
    return ActorType.OFFICER, f"user:{user.pk}"


def looks_personal(text: str) -> str | None:
    """What personal value ``text`` looks like ("a phone number", ...), or None.

    Callers that take identifiers from outside (a batch id, a request id) refuse those that
    look personal before they can reach an audit event, instead of failing when recording it.
    """
    return _personal_label(text)
