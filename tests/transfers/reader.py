"""An independent reader of releases for the tests: pyhpke (not `cryptography`'s HPKE) and
plain Ed25519 verification, following docs/release-format.md only."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)


def open_chunk(data: bytes, private_key, info: bytes) -> bytes:
    context = SUITE.create_recipient_context(data[:32], KEMKey.from_pyca_cryptography_key(
        private_key), info=info)
    return context.open(data[32:])


def read_release_dir(path: Path, private_key, service_public_key: bytes) -> tuple[dict, list]:
    """Verify and decrypt a release directory: (manifest, records)."""
    body = (path / "manifest.json").read_bytes()
    Ed25519PublicKey.from_public_bytes(service_public_key).verify(
        (path / "manifest.sig").read_bytes(), body)
    manifest = json.loads(body)
    records = []
    for chunk in manifest["chunks"]:
        data = (path / chunk["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == chunk["sha256"]
        plain = open_chunk(data, private_key, base64.b64decode(chunk["info"]))
        lines = [json.loads(line) for line in plain.splitlines() if line]
        assert len(lines) == chunk["records"]
        records.extend(lines)
    assert len(records) == manifest["counts"]["records"]
    return manifest, records


def read_release_api(api, release_id: str, private_key) -> tuple[dict, list]:
    """The same, through the API as the recipient."""
    key = api.http.get("/api/service-key").json()
    base = f"/api/releases/{release_id}"
    body = api.get(f"{base}/manifest.json").content
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(
        api.get(f"{base}/manifest.sig").content, body)
    manifest = json.loads(body)
    records = []
    for chunk in manifest["chunks"]:
        response = api.get(f"{base}/{chunk['file']}")
        assert response.status_code == 200
        data = b"".join(response.streaming_content)
        assert hashlib.sha256(data).hexdigest() == chunk["sha256"]
        plain = open_chunk(data, private_key, base64.b64decode(chunk["info"]))
        records.extend(json.loads(line) for line in plain.splitlines() if line)
    return manifest, records
