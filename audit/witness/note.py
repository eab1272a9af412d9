"""Signed notes, checkpoints and cosignatures, as bytes on the wire.

- signed note (c2sp.org/signed-note): a text ending in a newline, a blank line, then one or
  more lines ``— <key name> <base64(4-byte key id || signature)>``. The key id is the first
  four bytes of SHA-256(key name || 0x0A || signature type || public key).
- verifier key: ``<name>+<8 hex digits of the key id>+<base64(signature type || key)>``,
  the string golang.org/x/mod/sumdb/note reads. Type 0x01 is a log's Ed25519 key, 0x04 a
  witness's Ed25519 cosigning key.
- checkpoint (c2sp.org/tlog-checkpoint): note text of at least three lines: the origin,
  the tree size in decimal, the base64 root hash, then optional extension lines.
- cosignature/v1 (c2sp.org/tlog-cosignature): the signature is 8 bytes of big-endian UNIX
  time followed by an Ed25519 signature over ``cosignature/v1\\ntime <t>\\n`` + the note text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DASH = "\u2014"
ED25519 = 0x01
COSIGNATURE_V1 = 0x04
# The signed-note document asks verifiers to accept at least 16 signatures; a note with
# more than this is refused before any signature is checked.
MAX_SIGNATURES = 64
# tlog-cosignature: a timestamp MUST NOT exceed 2^63 - 1.
MAX_TIMESTAMP = 2**63 - 1
_HEX = frozenset("0123456789abcdefABCDEF")


class NoteError(ValueError):
    """The bytes are not a well-formed note, checkpoint, key or signature line."""


def key_id(name: str, algorithm: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public_key).digest()[:4]


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"a key name must be non-empty, without spaces or '+': {name!r}")


@dataclass(frozen=True)
class VerifierKey:
    name: str
    algorithm: int
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.algorithm, self.public_key)

    @property
    def text(self) -> str:
        return (f"{self.name}+{self.key_id.hex()}+"
                f"{base64.b64encode(bytes([self.algorithm]) + self.public_key).decode()}")

    def verify_ed25519(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_verifier_key(text: str, *, algorithm: int | None = None) -> VerifierKey:
    """Read ``name+keyid+base64key``; refuse a key id that does not match the key."""
    parts = text.strip().split("+", 2)  # the base64 key may hold '+' itself
    if len(parts) != 3:
        raise NoteError(f"a verifier key is name+keyid+key, not {text!r}")
    name, hash_hex, key_b64 = parts
    _check_key_name(name)
    if len(hash_hex) != 8 or any(ch not in _HEX for ch in hash_hex):
        # bytes.fromhex alone would take "aa bb cc dd"; Go's note package takes 8 digits.
        raise NoteError(f"verifier key {name!r}: the key id is not 8 hex digits")
    try:
        declared = bytes.fromhex(hash_hex)
        raw = base64.b64decode(key_b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NoteError(f"verifier key {name!r}: the key id or the key is not encoded "
                        "as hex and base64") from exc
    if len(declared) != 4 or len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError(f"verifier key {name!r}: not an Ed25519 key (type 0x01 or 0x04)")
    key = VerifierKey(name=name, algorithm=raw[0], public_key=raw[1:])
    if algorithm is not None and key.algorithm != algorithm:
        raise NoteError(f"verifier key {name!r} has type 0x{key.algorithm:02x}, this needs "
                        f"0x{algorithm:02x}")
    if key.key_id != declared:
        raise NoteError(f"verifier key {name!r}: its key id does not match its key")
    try:
        Ed25519PublicKey.from_public_bytes(key.public_key)
    except ValueError as exc:
        raise NoteError(f"verifier key {name!r}: not a valid Ed25519 public key") from exc
    return key


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes  # what follows the key id

    @property
    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{DASH} {self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    text: bytes  # the signed text, final newline included
    signatures: tuple[SignatureLine, ...]


def parse_note(raw: bytes) -> Note:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError("a note must be UTF-8") from exc
    if any(ord(ch) < 0x20 and ch != "\n" for ch in decoded):
        raise NoteError("a note may hold no control character but the newline")
    split = raw.rfind(b"\n\n")
    if split < 0:
        raise NoteError("no blank line between the note text and its signatures")
    text, block = raw[:split + 1], raw[split + 2:]
    if not block.endswith(b"\n"):
        raise NoteError("a note's signature lines must each end in a newline")
    lines = block[:-1].decode().split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    return Note(text=text, signatures=tuple(parse_signature_line(line) for line in lines))


def parse_signature_line(line: str) -> SignatureLine:
    parts = line.rstrip("\n").split(" ")
    if len(parts) != 3 or parts[0] != DASH:
        raise NoteError(f"not a note signature line: {line[:80]!r}")
    _check_key_name(parts[1])
    try:
        blob = base64.b64decode(parts[2], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NoteError("a signature is not base64") from exc
    if len(blob) < 5:
        raise NoteError("a signature holds a 4-byte key id and the signature itself")
    return SignatureLine(name=parts[1], key_id=blob[:4], signature=blob[4:])


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    text: bytes


def parse_checkpoint_text(text: bytes) -> Checkpoint:
    lines = text.decode("utf-8").split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("a checkpoint is at least three non-empty lines, each ending in a "
                        "newline")
    origin, size_text, root_b64 = lines[0], lines[1], lines[2]
    if not size_text.isascii() or not size_text.isdigit() or (
            size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"bad tree size {size_text!r}")
    try:
        root_hash = base64.b64decode(root_b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NoteError("the root hash is not base64") from exc
    if len(root_hash) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return Checkpoint(origin=origin, size=int(size_text), root_hash=root_hash, text=text)


def verified_by(note: Note, key: VerifierKey) -> bool | None:
    """True/False when ``key`` signed ``note`` (Ed25519 note signature); None when it did not.

    Lines from other keys are ignored, as the signed-note document requires; a line with
    this key's name and id whose signature fails is False, not None.
    """
    wanted = key.key_id
    seen = None
    for sig in note.signatures:
        if sig.name != key.name or sig.key_id != wanted:
            continue
        if len(sig.signature) == 64 and key.verify_ed25519(sig.signature, note.text):
            return True
        seen = False
    return seen


# --- cosignature/v1 --------------------------------------------------------------------

def cosignature_message(text: bytes, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + text


@dataclass(frozen=True)
class Cosignature:
    witness: str
    key_id: bytes
    timestamp: int
    line: str


def cosign(text: bytes, *, name: str, private_key: Ed25519PrivateKey,
           timestamp: int) -> Cosignature:
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = key_id(name, COSIGNATURE_V1, public)
    signature = private_key.sign(cosignature_message(text, timestamp))
    line = SignatureLine(name=name, key_id=kid,
                         signature=struct.pack(">Q", timestamp) + signature).line
    return Cosignature(witness=name, key_id=kid, timestamp=timestamp, line=line)


def cosignatures_by(note: Note, key: VerifierKey) -> tuple[list[Cosignature], int]:
    """The cosignatures of ``key`` on the note that verify, and how many of its lines fail."""
    good, bad = [], 0
    wanted = key.key_id
    for sig in note.signatures:
        if sig.name != key.name or sig.key_id != wanted:
            continue
        if len(sig.signature) == 72:
            (timestamp,) = struct.unpack(">Q", sig.signature[:8])
            if timestamp <= MAX_TIMESTAMP and key.verify_ed25519(
                    sig.signature[8:], cosignature_message(note.text, timestamp)):
                good.append(Cosignature(witness=key.name, key_id=wanted, timestamp=timestamp,
                                        line=sig.line))
                continue
        bad += 1
    return good, bad


def witness_verifier_key(name: str, private_key: Ed25519PrivateKey) -> VerifierKey:
    _check_key_name(name)
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return VerifierKey(name=name, algorithm=COSIGNATURE_V1, public_key=public)
