"""Checkpoints as C2SP signed notes (https://c2sp.org/tlog-checkpoint, https://c2sp.org/signed-note).

    <origin>\n
    <tree size, decimal>\n
    <base64 root hash>\n
    \n
    — <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>\n

The signature covers the note text: the three body lines including the final newline. The
key name is the origin; the key hash is the first 4 bytes of
SHA-256(key name || 0x0A || 0x01 || 32-byte public key), 0x01 meaning Ed25519.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519_TYPE = b"\x01"
SIGNATURE_DASH = "\u2014"


class CheckpointError(ValueError):
    pass


@dataclass(frozen=True)
class ParsedCheckpoint:
    origin: str
    size: int
    root_hash: bytes
    key_name: str
    key_hash: bytes
    signature: bytes
    body: bytes


def note_key_hash(key_name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(key_name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def verifier_key(key_name: str, public_key: bytes) -> str:
    """The signed-note verifier key string: <name>+<hex key hash>+<base64(0x01 || key)>."""
    return (f"{key_name}+{note_key_hash(key_name, public_key).hex()}+"
            f"{base64.b64encode(ED25519_TYPE + public_key).decode()}")


def checkpoint_body(origin: str, size: int, root_hash: bytes) -> bytes:
    if "\n" in origin or not origin:
        raise CheckpointError("the origin must be one non-empty line")
    return f"{origin}\n{size}\n{base64.b64encode(root_hash).decode()}\n".encode()


def sign_checkpoint(*, origin: str, size: int, root_hash: bytes, public_key: bytes,
                    sign) -> str:
    body = checkpoint_body(origin, size, root_hash)
    blob = note_key_hash(origin, public_key) + sign(body)
    return (body + f"\n{SIGNATURE_DASH} {origin} {base64.b64encode(blob).decode()}\n".encode()
            ).decode()


def parse_checkpoint(note: str) -> ParsedCheckpoint:
    text = note.encode()
    body, sep, sigs = text.partition(b"\n\n")
    if not sep:
        raise CheckpointError("no blank line between the checkpoint and its signature")
    body += b"\n"
    lines = body.decode().split("\n")
    if len(lines) < 4:
        raise CheckpointError("a checkpoint needs an origin, a size and a root hash")
    origin, size_text, root_b64 = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise CheckpointError(f"bad tree size {size_text!r}")
    try:
        root_hash = base64.b64decode(root_b64, validate=True)
    except ValueError as exc:
        raise CheckpointError("the root hash is not base64") from exc
    if len(root_hash) != 32:
        raise CheckpointError("the root hash is not 32 bytes")
    sig_line = sigs.decode().split("\n")[0]
    parts = sig_line.split(" ")
    if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
        raise CheckpointError("malformed signature line")
    blob = base64.b64decode(parts[2])
    if len(blob) != 68:
        raise CheckpointError("an Ed25519 note signature is 4 + 64 bytes")
    return ParsedCheckpoint(origin=origin, size=int(size_text), root_hash=root_hash,
                            key_name=parts[1], key_hash=blob[:4], signature=blob[4:],
                            body=body)


def verify_checkpoint(note: str, *, origin: str, public_key: bytes) -> ParsedCheckpoint:
    """Parse and check a note; raise CheckpointError naming what is wrong."""
    cp = parse_checkpoint(note)
    if cp.origin != origin or cp.key_name != origin:
        raise CheckpointError(f"checkpoint is for origin {cp.origin!r}, not {origin!r}")
    if cp.key_hash != note_key_hash(origin, public_key):
        raise CheckpointError("checkpoint signed by another key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(cp.signature, cp.body)
    except InvalidSignature as exc:
        raise CheckpointError(f"bad signature on checkpoint of size {cp.size}") from exc
    return cp
