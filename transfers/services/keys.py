"""The recipient's post-quantum option: registering an ML-KEM-768 + X25519 encryption key.

`governance.services.operator_key_register` takes 32-byte X25519 keys only; a hybrid key
(the ML-KEM-768 public key, 1,184 bytes, then the X25519 one, 32: X-Wing's encoding) is
registered here with the same rules: it must load, it is never registered twice, it replaces
the operator's current encryption key from ``valid_from`` on (the rotation history stays),
and the registration is an audit event. Releases to the recipient then use the hybrid HPKE
suite (transfers.format). When governance accepts the hybrid length itself, this should
become a call to it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_event, system_actor
from governance.models import Operator, OperatorKey
from governance.services import GovernanceError
from governance.services.catalogue import key_id_for
from transfers import format as fmt


@transaction.atomic
def recipient_hybrid_key_register(*, operator: Operator, public_key: bytes, by: Actor,
                                  valid_from: datetime | None = None) -> OperatorKey:
    public_key = bytes(public_key)
    if len(public_key) != fmt.HYBRID_KEY_LENGTH:
        raise GovernanceError(f"a hybrid key is {fmt.HYBRID_KEY_LENGTH} bytes: ML-KEM-768's "
                              "public key (1,184) then X25519's (32)")
    try:
        fmt.recipient_public_key(public_key)
    except ValueError as exc:
        raise GovernanceError("공개키 형식이 올바르지 않습니다 (ML-KEM-768 || X25519)") from exc
    key_id = key_id_for(public_key)
    if OperatorKey.objects.filter(key_id=key_id).exists():
        raise GovernanceError("이미 등록된 키입니다. (this key is already registered)")
    valid_from = valid_from or timezone.now()
    purpose = OperatorKey.Purpose.ENCRYPTION
    key = OperatorKey.objects.create(operator=operator, purpose=purpose, key_id=key_id,
                                     public_key=public_key, valid_from=valid_from)
    previous = list(OperatorKey.objects.select_for_update()
                    .filter(operator=operator, purpose=purpose, valid_until__isnull=True,
                            replaced_by__isnull=True).exclude(pk=key.pk))
    for old in previous:
        old.valid_until, old.replaced_by = max(valid_from, old.valid_from), key
        old.save(update_fields=["valid_until", "replaced_by"])
    # Recorded as governance records its own key registrations (system:governance if no one).
    audit_event(by=by if by is not None else system_actor("governance"),
                action="operator_key.registered", target=key,
                details={"operator": operator.code, "purpose": purpose, "key_id": key_id,
                         "kem": "MLKEM768-X25519",
                         "replaces": [old.key_id for old in previous]})
    return key
