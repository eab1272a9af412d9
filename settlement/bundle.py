"""The settlement statements as files for the commission's audit bundle (audit/ is another
layer and imports nothing of this app: it, or a registry it offers, calls this).

`statement_bundle_files()` -> {relative name: exact bytes}: for each statement,
``settlement/<id>/statement.json`` (the exact signed-over bytes) and, per co-signature,
``settlement/<id>/<role>.payload`` and ``<role>.sig`` plus ``<role>.key`` (the raw Ed25519
public key), so the commission checks each party's signature offline: the payload names the
statement's SHA-256, and the signature verifies over the payload with the key.
"""

from __future__ import annotations

from settlement.models import SettlementStatement


def statement_bundle_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for statement in SettlementStatement.objects.order_by("id").prefetch_related(
            "signatures__key"):
        base = f"settlement/{statement.public_id}"
        files[f"{base}/statement.json"] = bytes(statement.content)
        for signature in statement.signatures.all():
            files[f"{base}/{signature.role}.payload"] = bytes(signature.payload)
            files[f"{base}/{signature.role}.sig"] = bytes(signature.signature)
            files[f"{base}/{signature.role}.key"] = bytes(signature.key.public_key)
    return files
