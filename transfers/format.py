"""The release format (docs/release-format.md): HPKE chunks and the signed manifest.

Chunks are single-shot HPKE (RFC 9180, base mode) from `cryptography`:
DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM. A chunk file is the 32-byte
encapsulated key followed by the ciphertext (what ``Suite.encrypt`` returns). The ``info``
string binds the plan, the release, the chunk number and the recipient's key id, so a chunk
cannot be passed off as another chunk, release or recipient.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

FORMAT = "consent-broker-release/1"
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SUITE_DESCRIPTION = {
    "mode": "base",
    "kem": "DHKEM(X25519, HKDF-SHA256)", "kem_id": 0x0020,
    "kdf": "HKDF-SHA256", "kdf_id": 0x0001,
    "aead": "AES-256-GCM", "aead_id": 0x0002,
    "layout": "enc (32 bytes) || ciphertext",
}
ENC_LENGTH = 32
REHEARSAL_STAMP = "REHEARSAL"


def chunk_name(number: int) -> str:
    return f"chunks/{number:06d}.bin"


def chunk_info(*, plan_id: int, plan_version: int, release_id: str, chunk: int,
               recipient_key_id: str, rehearsal: bool = False) -> bytes:
    """The HPKE ``info`` of one chunk (ASCII). Readers take it from the manifest and should
    check that it names the plan, release, chunk and key they expect."""
    stamp = "|REHEARSAL" if rehearsal else ""
    return (f"{FORMAT}|plan={plan_id}.v{plan_version}|release={release_id}|chunk={chunk:06d}"
            f"|key={recipient_key_id}{stamp}").encode("ascii")


def chunk_encrypt(plaintext: bytes, public_key: X25519PublicKey, info: bytes) -> bytes:
    return SUITE.encrypt(plaintext, public_key, info=info)


def chunk_decrypt(data: bytes, private_key: X25519PrivateKey, info: bytes) -> bytes:
    return SUITE.decrypt(data, private_key, info=info)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(manifest, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode()


def record_line(*, public_id: str, kind: str, external_id: str,
                fields: dict[str, Any]) -> bytes:
    return json.dumps({"subject": public_id, "kind": kind, "external_id": external_id,
                       "fields": fields}, ensure_ascii=False, separators=(",", ":")).encode()
