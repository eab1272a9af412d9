"""What every signed submission of an operator starts with: the exact bytes it signed, checked
against its registered Ed25519 signature key (acknowledgements, apply reports, notice
attestations here; refund confirmations, declarations, balance lists and statement
signatures in settlement, which builds on this).

`signed_bytes` decodes the base64 ``payload`` and ``signature`` and verifies one over the
other with the operator's current signature key. Refusals, before anything is stored:
400 ``invalid_<what>`` (not base64 text), 409 ``no_key`` (no registered key), 400
``bad_signature``. Parsing and checking the payload's fields is the caller's.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from governance.models import Operator, OperatorKey
from governance.selectors import operator_current_key
from transfers.services.common import Conflict, TransferError


def signed_bytes(*, operator: Operator, payload_b64: Any, signature_b64: Any, what: str,
                 party: str = "operator") -> tuple[OperatorKey, bytes, bytes]:
    """(the key that verified, the payload's bytes, the signature's bytes). ``what`` names
    the submission in the refusal code; ``party`` names the signer in messages."""
    payload = _decode(payload_b64, "payload", what)
    signature = _decode(signature_b64, "signature", what)
    key = operator_current_key(operator, OperatorKey.Purpose.SIGNATURE)
    if key is None:
        raise Conflict(f"the {party} has no registered signing key", code="no_key")
    try:
        Ed25519PublicKey.from_public_bytes(bytes(key.public_key)).verify(signature, payload)
    except InvalidSignature as exc:
        raise TransferError(f"the signature does not verify with the {party}'s registered "
                            "signing key", code="bad_signature") from exc
    return key, payload, signature


def _decode(value: Any, name: str, what: str) -> bytes:
    if not isinstance(value, str):
        raise TransferError(f"{name} must be base64 text", code=f"invalid_{what}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TransferError(f"{name} is not valid base64", code=f"invalid_{what}") from exc
