"""Where the service's keys and secrets come from.

In production every key comes from the environment. On a developer's machine, a key that
is not in the environment is generated once into ``var/dev-keys.json`` (ignored by git), so
``make run`` works on a fresh clone without anyone pasting secrets. The system check in
``config.checks`` refuses to start production settings with any development key.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat


def _new_ed25519_private_key_b64() -> str:
    raw = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return base64.b64encode(raw).decode()


# Each secret the service needs, and how to make a development value for it.
GENERATORS = {
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    # Ed25519 key that signs audit checkpoints, release manifests and consent receipts.
    "SERVICE_SIGNING_KEY": _new_ed25519_private_key_b64,
    # Comma-separated Fernet keys for personal values at rest; the first one encrypts.
    "FIELD_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
    # HMAC key for blind indexes (phone lookups, business registration number checks).
    "BLIND_INDEX_KEY": lambda: secrets.token_urlsafe(32),
}


def load_secrets(dev_key_file: Path, allow_generate: bool) -> tuple[dict[str, str], set[str]]:
    """Return every secret, and the names of those that came from the development file."""
    values: dict[str, str] = {}
    from_dev_file: set[str] = set()
    stored = _read_dev_file(dev_key_file) if allow_generate else {}
    changed = False
    for name, generate in GENERATORS.items():
        if os.environ.get(name):
            values[name] = os.environ[name]
            continue
        if not allow_generate:
            continue  # the production check reports it missing
        if name not in stored:
            stored[name] = generate()
            changed = True
        values[name] = stored[name]
        from_dev_file.add(name)
    if changed:
        _write_dev_file(dev_key_file, stored)
    return values, from_dev_file


def _read_dev_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _write_dev_file(path: Path, stored: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written with owner-only permissions: these are real keys, if only for development.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(stored, fh, indent=2)
