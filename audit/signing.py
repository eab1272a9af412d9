"""The service's Ed25519 signing key (SERVICE_SIGNING_KEY).

It signs audit checkpoints, release manifests and consent receipts. Its public key is
published (audit bundle, operator API) so others verify without trusting us.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings


@lru_cache(maxsize=4)
def _private_key(raw_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw_b64))


def service_private_key() -> Ed25519PrivateKey:
    return _private_key(settings.SERVICE_SIGNING_KEY)


def service_public_key_bytes() -> bytes:
    return service_private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def service_public_key_b64() -> str:
    return base64.b64encode(service_public_key_bytes()).decode()


def service_key_id() -> str:
    """A short stable id of the public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(service_public_key_bytes()).hexdigest()[:16]


def service_sign(message: bytes) -> bytes:
    return service_private_key().sign(message)
