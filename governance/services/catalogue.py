"""Operators, their keys, and the plain catalogue rows officers edit in the admin."""

from __future__ import annotations

import hashlib
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from django.db import models, transaction
from django.utils import timezone

from audit.services import audit_event
from governance.models import Operator, OperatorKey
from governance.services.common import Actor, GovernanceError, acting


def key_id_for(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


@transaction.atomic
def operator_key_register(*, operator: Operator, purpose: str, public_key: bytes, by: Actor,
                          valid_from: datetime | None = None) -> OperatorKey:
    """Register an operator's new public key; the key it replaces stops being valid then.

    Only a raw 32-byte public key is accepted: X25519 for ``encryption`` (HPKE), Ed25519 for
    ``signature``. Keys are never deleted, so the rotation history stays.
    """
    public_key = bytes(public_key)
    loader = {OperatorKey.Purpose.ENCRYPTION: X25519PublicKey.from_public_bytes,
              OperatorKey.Purpose.SIGNATURE: Ed25519PublicKey.from_public_bytes}.get(purpose)
    if loader is None:
        raise GovernanceError(f"unknown key purpose: {purpose}")
    try:
        loader(public_key)
    except ValueError as exc:
        raise GovernanceError("공개키 형식이 올바르지 않습니다 (raw 32-byte public key)") from exc
    key_id = key_id_for(public_key)
    if OperatorKey.objects.filter(key_id=key_id).exists():
        raise GovernanceError("이미 등록된 키입니다. (this key is already registered)")
    valid_from = valid_from or timezone.now()
    key = OperatorKey.objects.create(operator=operator, purpose=purpose, key_id=key_id,
                                     public_key=public_key, valid_from=valid_from)
    previous = (OperatorKey.objects.select_for_update()
                .filter(operator=operator, purpose=purpose, valid_until__isnull=True,
                        replaced_by__isnull=True).exclude(pk=key.pk))
    for old in previous:
        old.valid_until, old.replaced_by = max(valid_from, old.valid_from), key
        old.save(update_fields=["valid_until", "replaced_by"])
    audit_event(by=acting(by), action="operator_key.registered", target=key,
                details={"operator": operator.code, "purpose": purpose, "key_id": key_id,
                         "replaces": [old.key_id for old in previous]})
    return key


def _changed_fields(obj: models.Model) -> list[str]:
    if obj.pk is None:
        return []
    before = type(obj).objects.filter(pk=obj.pk).values().first() or {}
    return sorted(f.attname for f in obj._meta.concrete_fields
                  if f.attname in before and before[f.attname] != getattr(obj, f.attname))


@transaction.atomic
def catalogue_object_save(*, obj: models.Model, by: Actor) -> models.Model:
    """Create or change an operator, a field or another catalogue row, with its audit event.

    The event names the changed attributes, never their values (they may be personal).
    """
    created = obj.pk is None
    changed = _changed_fields(obj)
    obj.save()
    name = type(obj).__name__.lower()
    audit_event(by=acting(by), action=f"{name}.{'created' if created else 'updated'}",
                target=obj, details={"changed": changed} if not created else {})
    return obj


@transaction.atomic
def catalogue_object_delete(*, obj: models.Model, by: Actor) -> None:
    pk, name = obj.pk, type(obj).__name__.lower()
    audit_event(by=acting(by), action=f"{name}.deleted", target=obj)
    obj.delete()
    obj.pk = pk
