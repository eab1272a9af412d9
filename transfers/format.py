"""The release format (docs/release-format.md): HPKE chunks and the signed manifest.

Chunks are single-shot HPKE (RFC 9180, base mode) from `cryptography`, with one of two KEMs,
chosen by the recipient's registered key: DHKEM(X25519, HKDF-SHA256) for a 32-byte X25519 key
(classical), or the hybrid ML-KEM-768 + X25519 KEM (X-Wing, `KEM.MLKEM768_X25519`) for a
1,216-byte key (the ML-KEM-768 public key, 1,184 bytes, then the X25519 one): post-quantum,
and still as strong as X25519 if ML-KEM fell. Both with HKDF-SHA256 / AES-256-GCM. A chunk
file is the encapsulated key (32 or 1,120 bytes) followed by the ciphertext (what
``Suite.encrypt`` returns); the manifest's ``suite`` names which. The ``info``
string binds the plan, the release, the chunk number and the recipient's key id, so a chunk
cannot be passed off as another chunk, release or recipient.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

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
HYBRID_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
HYBRID_SUITE_DESCRIPTION = {
    "mode": "base",
    "kem": "MLKEM768-X25519", "kem_id": 0x647A,
    "kdf": "HKDF-SHA256", "kdf_id": 0x0001,
    "aead": "AES-256-GCM", "aead_id": 0x0002,
    "layout": "enc (1120 bytes) || ciphertext", "enc_length": 1120,
}
X25519_KEY_LENGTH = 32
MLKEM768_KEY_LENGTH = 1184
HYBRID_KEY_LENGTH = MLKEM768_KEY_LENGTH + X25519_KEY_LENGTH
# The release's `suite` names (API) by recipient key kind.
SUITE_X25519, SUITE_HYBRID = "x25519", "mlkem768_x25519"
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


def suite_name(public_key: bytes) -> str:
    """Which KEM a registered encryption key is for: its length tells."""
    return SUITE_HYBRID if len(public_key) == HYBRID_KEY_LENGTH else SUITE_X25519


def recipient_public_key(public_key: bytes):
    """The HPKE public key object for a registered key's raw bytes (either kind)."""
    public_key = bytes(public_key)
    if len(public_key) == HYBRID_KEY_LENGTH:
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(public_key[:MLKEM768_KEY_LENGTH]),
            X25519PublicKey.from_public_bytes(public_key[MLKEM768_KEY_LENGTH:]))
    return X25519PublicKey.from_public_bytes(public_key)


def hybrid_public_bytes(mlkem_public: mlkem.MLKEM768PublicKey,
                        x25519_public: X25519PublicKey) -> bytes:
    """The registered form of a hybrid key: ML-KEM-768's 1,184 bytes, then X25519's 32."""
    from cryptography.hazmat.primitives import serialization

    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    return mlkem_public.public_bytes(*raw) + x25519_public.public_bytes(*raw)


def suite_for(public_key) -> tuple[hpke.Suite, dict[str, Any]]:
    """The HPKE suite and the manifest's description of it, for a public key object."""
    if isinstance(public_key, hpke.MLKEM768X25519PublicKey):
        return HYBRID_SUITE, HYBRID_SUITE_DESCRIPTION
    return SUITE, SUITE_DESCRIPTION


def chunk_encrypt(plaintext: bytes, public_key, info: bytes) -> bytes:
    return suite_for(public_key)[0].encrypt(plaintext, public_key, info=info)


def chunk_decrypt(data: bytes, private_key, info: bytes) -> bytes:
    suite = HYBRID_SUITE if isinstance(private_key, hpke.MLKEM768X25519PrivateKey) else SUITE
    return suite.decrypt(data, private_key, info=info)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(manifest, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode()

