#!/usr/bin/env python3
"""Standalone verifier for a consent-broker audit bundle.

Needs only the Python standard library and the `cryptography` package; it imports nothing
from the service. Usage:

    python verify.py BUNDLE_DIR [--trusted-checkpoint FILE ...] [--public-key BASE64]
                                [--witness NAME=VKEY ...] [--quorum K]

Exit status 0 when the bundle is honest; 1 with a message naming the first problem when an
entry was edited, deleted, inserted or reordered, a checkpoint is forged or removed, the
manifest is not the one the service signed, or the log was truncated behind a checkpoint
you saved earlier (--trusted-checkpoint), or the latest checkpoint lacks the cosignatures of
K of the witnesses you name (--witness, --quorum), or selection.jsonl (when the manifest
names one) is not exactly the window's entries of the actions the manifest names. Pass the
service's public key you obtained separately with --public-key, and the witnesses' keys
with --witness, so that the bundle cannot bring its own.

Rules (see README.md): each line of entries.jsonl is the canonical JSON of one entry (sorted
keys, no whitespace, UTF-8); entry_hash = SHA-256(line); the Merkle leaf is the entry hash,
leaf hash = SHA-256(0x00 || entry_hash), node = SHA-256(0x01 || left || right) (RFC 6962);
checkpoints are C2SP signed notes with Ed25519; manifest.sig is the Ed25519 signature of
manifest.json's bytes, and the manifest names the range of seq, the count of entries, the
latest checkpoint's size and root, and the number of checkpoints; a witness cosignature
(C2SP tlog-cosignature/v1) is a note signature line whose key id is the first 4 bytes of
SHA-256(name || 0x0A || 0x04 || key) and whose signature is 8 bytes of big-endian UNIX time
then Ed25519 over "cosignature/v1\ntime <t>\n" followed by the checkpoint's note text;
selection.jsonl holds, line for line as in entries.jsonl, the entries whose action matches
one of the manifest's "selection" patterns (shell-style, case-sensitive), with their count
and the file's SHA-256 in the manifest; attachments/ holds exactly the files the manifest's
"attachments" names, each with its SHA-256, and every co-signature in it (NAME.payload,
NAME.sig, NAME.key: Ed25519 over the payload's bytes with the raw public key) verifies, and
names, as "sha256", the SHA-256 of the statement.json beside it (a settlement statement).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import fnmatch
import hashlib
import json
import struct
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DASH = "\u2014"
MANIFEST_FORMAT = "consent-broker-audit-bundle/1"


class Failed(Exception):
    pass


# --- RFC 6962 / 9162 -------------------------------------------------------------------

def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    def __init__(self) -> None:
        self.size = 0
        self.hashes: list[bytes] = []

    def append(self, h: bytes) -> None:
        size = self.size
        while size & 1:
            h = node_hash(self.hashes.pop(), h)
            size >>= 1
        self.hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return hashlib.sha256(b"").digest()
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = node_hash(left, h)
        return h


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes],
                     root: bytes) -> bool:
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: list[bytes]) -> bool:
    if not 0 <= old_size <= new_size or any(len(p) != 32 for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    if old_size & (old_size - 1) == 0:
        proof = [old_root] + list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --- Signed-note checkpoints -----------------------------------------------------------

def note_key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]


def read_checkpoint(text: str, origin: str, public_key: bytes, label: str) -> tuple[int, bytes]:
    body, sep, sigs = text.partition("\n\n")
    if not sep:
        raise Failed(f"{label}: not a signed note (no blank line)")
    lines = body.split("\n")
    if len(lines) < 3:
        raise Failed(f"{label}: needs origin, size and root hash lines")
    if lines[0] != origin:
        raise Failed(f"{label}: origin {lines[0]!r} is not this log's {origin!r}")
    if not lines[1].isdigit():
        raise Failed(f"{label}: bad tree size {lines[1]!r}")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise Failed(f"{label}: root hash is not base64") from exc
    if len(root) != 32:
        raise Failed(f"{label}: root hash is not 32 bytes")
    wanted = note_key_hash(origin, public_key)
    for line in sigs.split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or parts[1] != origin:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if len(blob) != 68 or blob[:4] != wanted:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                blob[4:], (body + "\n").encode())
        except InvalidSignature as exc:
            raise Failed(f"{label}: the signature does not verify (forged or altered)") from exc
        return int(lines[1]), root
    raise Failed(f"{label}: no signature by the service's key")


# --- Witness cosignatures --------------------------------------------------------------

class WitnessKey:
    def __init__(self, name: str, public_key: bytes) -> None:
        self.name = name
        self.public_key = public_key
        self.key_id = hashlib.sha256(name.encode() + b"\n\x04" + public_key).digest()[:4]


def parse_witness_key(text: str) -> WitnessKey:
    """NAME=VKEY (or just VKEY): a witness's note verifier key, name+keyid+base64(0x04||key)."""
    given, sep, vkey = text.partition("=")
    if not sep or "+" in given:
        given, vkey = "", text
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise Failed(f"--witness {text!r}: a verifier key is name+keyid+key")
    name, hash_hex, key_b64 = parts
    if len(hash_hex) != 8 or any(ch not in "0123456789abcdefABCDEF" for ch in hash_hex):
        raise Failed(f"--witness {text!r}: the key id is not 8 hex digits")
    try:
        declared = bytes.fromhex(hash_hex)
        raw = base64.b64decode(key_b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise Failed(f"--witness {text!r}: the key id or key is not hex and base64") from exc
    if len(raw) != 33 or raw[0] != 0x04:
        raise Failed(f"--witness {text!r}: not a cosignature/v1 (type 0x04) Ed25519 key")
    if given and given != name:
        raise Failed(f"--witness {text!r}: the key is named {name!r}, not {given!r}")
    key = WitnessKey(name, raw[1:])
    if key.key_id != declared:
        raise Failed(f"--witness {text!r}: its key id does not match its key")
    return key


def cosigned_by(text: str, witnesses: list[WitnessKey], label: str) -> list[str]:
    """Names of the witnesses whose cosignature on this note verifies; a forged one fails."""
    body, _, sigs = text.partition("\n\n")
    message_tail = (body + "\n").encode()
    names = []
    for line in sigs.split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        for key in witnesses:
            if parts[1] != key.name or blob[:4] != key.key_id:
                continue
            if len(blob) == 4 + 72 and blob[4] < 0x80:  # a timestamp of at most 2^63 - 1
                (timestamp,) = struct.unpack(">Q", blob[4:12])
                message = b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + \
                    message_tail
                try:
                    Ed25519PublicKey.from_public_bytes(key.public_key).verify(blob[12:], message)
                except InvalidSignature:
                    pass
                else:
                    if key.name not in names:
                        names.append(key.name)
                    continue
            raise Failed(f"{label}: the cosignature of witness {key.name} does not verify "
                         "(forged or altered)")
    return names


def read_witness_policy(bundle: Path, pinned: list[str], quorum: int | None
                        ) -> tuple[list[WitnessKey], int, bool]:
    """The witnesses to count and how many must co-sign: pinned ones, or the bundle's."""
    if pinned:
        witnesses = [parse_witness_key(text) for text in pinned]
    else:
        listed = bundle / "witnesses.json"
        witnesses = ([parse_witness_key(item["vkey"]) for item in
                      json.loads(listed.read_text(encoding="utf-8"))] if listed.exists() else [])
    if len({w.name for w in witnesses}) != len(witnesses):
        raise Failed("a witness is named twice")
    needed = quorum if quorum is not None else len(witnesses) if pinned else 0
    if not 0 <= needed <= len(witnesses):
        raise Failed(f"--quorum {needed} needs at least {needed} witnesses, "
                     f"{len(witnesses)} are known (name them with --witness)")
    return witnesses, needed, bool(pinned)


# --- The selection ---------------------------------------------------------------------

class Selection:
    """selection.jsonl against the entries: exactly the window's entries whose action
    matches one of the signed manifest's patterns, in order, byte for byte.

    The manifest (signed) names the patterns, the count and the SHA-256 of the file, so
    nobody can drop a selected entry, add one, or edit one without the verifier noticing:
    each line is compared with the entry read from entries.jsonl at the same point.
    """

    FILE = "selection.jsonl"

    def __init__(self, bundle: Path, manifest: dict) -> None:
        self.spec = manifest.get("selection")
        path = bundle / self.FILE
        if self.spec is None:
            if path.exists():
                raise Failed(f"{self.FILE} is not named by the signed manifest: it was added "
                             "to the bundle afterwards")
            self.file = None
            return
        if not isinstance(self.spec, dict) or self.spec.get("file") != self.FILE:
            raise Failed(f"the signed manifest names a selection other than {self.FILE}")
        self.patterns = [p for p in self.spec.get("actions", []) if isinstance(p, str)]
        if not self.patterns:
            raise Failed("the signed manifest names a selection without actions")
        if not path.exists():
            raise Failed(f"{self.FILE} is missing, but the signed manifest names it "
                         f"({self.spec.get('entries')} entries of "
                         f"{', '.join(self.patterns)})")
        self.file = path.open("rb")
        self.count, self.digest = 0, hashlib.sha256()

    def offer(self, seq: int, action: object, line: bytes) -> None:
        """``line``: the entry's line of entries.jsonl, newline included."""
        if self.file is None or not isinstance(action, str) or not any(
                fnmatch.fnmatchcase(action, p) for p in self.patterns):
            return
        selected = self.file.readline()
        if not selected:
            raise Failed(f"{self.FILE} ends before entry {seq} ({action}): a selected entry "
                         "was removed from it")
        if selected != line:
            raise Failed(f"{self.FILE} line {self.count + 1} is not entry {seq} ({action}) "
                         "of entries.jsonl: the selection was edited, reordered, or lost "
                         "or gained an entry")
        self.count += 1
        self.digest.update(selected)

    def finish(self) -> str:
        if self.file is None:
            return ""
        extra = self.file.readline()
        self.file.close()
        if extra:
            raise Failed(f"{self.FILE} holds more than the {self.count} entries of "
                         f"{', '.join(self.patterns)} in the window: an entry was added to it")
        if self.count != self.spec.get("entries"):
            raise Failed(f"the signed manifest counts {self.spec.get('entries')} selected "
                         f"entries, the window holds {self.count}")
        if self.digest.hexdigest() != self.spec.get("sha256"):
            raise Failed(f"{self.FILE} is not the file the signed manifest names (SHA-256)")
        return f"; {self.FILE}: all {self.count} entries of {', '.join(self.patterns)}"


# --- The bundle ------------------------------------------------------------------------

def canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def read_public_key(bundle: Path, pinned_key: str | None) -> bytes:
    key_info = json.loads((bundle / "public_key.json").read_text(encoding="utf-8"))
    if pinned_key and key_info["public_key"] != pinned_key:
        raise Failed("the bundle's public key is not the one you pinned with --public-key")
    return base64.b64decode(pinned_key or key_info["public_key"])


def read_signed_manifest(bundle: Path, public_key: bytes) -> dict:
    """The manifest, once its signature verifies: it says which entries the bundle must hold.

    Unsigned, anyone could drop entries at the edges of a range and edit first_seq/last_seq
    to match; every remaining entry would still be proven by its inclusion proof.
    """
    body = (bundle / "manifest.json").read_bytes()
    signature_file = bundle / "manifest.sig"
    if not signature_file.exists():
        raise Failed("manifest.sig is missing: nothing shows the manifest (which entries the "
                     "bundle must hold) is the one the service exported")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature_file.read_bytes(), body)
    except InvalidSignature as exc:
        raise Failed("manifest.json is not what the service signed (manifest.sig does not "
                     "verify with the service's key): it was edited or replaced") from exc
    manifest = json.loads(body)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise Failed(f"the signed manifest is not an audit bundle manifest "
                     f"({MANIFEST_FORMAT}): a signature of something else")
    return manifest


# --- Attachments (the settlement statements and their co-signatures) ----------------------


def verify_attachments(bundle: Path, manifest: dict) -> str:
    """The files under attachments/ against the signed manifest, and their co-signatures."""
    named = manifest.get("attachments") or {}
    folder = bundle / "attachments"
    present = ({p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
               if folder.is_dir() else set())
    if present != set(named):
        extra, missing = sorted(present - set(named)), sorted(set(named) - present)
        raise Failed(f"attachments differ from the signed manifest: extra {extra}, missing "
                     f"{missing}")
    for name, digest in named.items():
        if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
            raise Failed(f"attachment {name} was changed: its SHA-256 is not the signed one")
    cosigned = 0
    for sig in sorted(folder.rglob("*.sig")) if named else []:
        payload, key = sig.with_suffix(".payload"), sig.with_suffix(".key")
        label = sig.relative_to(folder).as_posix()
        if not (payload.is_file() and key.is_file()):
            raise Failed(f"co-signature {label} lacks its .payload or .key")
        try:
            Ed25519PublicKey.from_public_bytes(key.read_bytes()).verify(sig.read_bytes(),
                                                                        payload.read_bytes())
        except (InvalidSignature, ValueError) as exc:
            raise Failed(f"co-signature {label} does not verify over its payload") from exc
        statement = sig.parent / "statement.json"
        if statement.is_file():
            try:
                said = json.loads(payload.read_bytes()).get("sha256")
            except (ValueError, AttributeError) as exc:
                raise Failed(f"co-signature {label}: its payload is not a JSON object") from exc
            if said != hashlib.sha256(statement.read_bytes()).hexdigest():
                raise Failed(f"co-signature {label} signs another statement than the one "
                             "beside it")
        cosigned += 1
    return f"; {len(named)} attachments, {cosigned} co-signatures verified" if named else ""


def verify_bundle(bundle: Path, trusted: list[Path], pinned_key: str | None,
                  pinned_witnesses: list[str] | None = None, quorum: int | None = None) -> str:
    public_key = read_public_key(bundle, pinned_key)
    manifest = read_signed_manifest(bundle, public_key)
    attached = verify_attachments(bundle, manifest)
    origin = manifest["origin"]
    witnesses, needed, witnesses_pinned = read_witness_policy(bundle, pinned_witnesses or [],
                                                              quorum)

    checkpoints: dict[int, bytes] = {}
    notes: dict[int, str] = {}
    for path in sorted((bundle / "checkpoints").glob("*.note")):
        text = path.read_text(encoding="utf-8")
        size, root = read_checkpoint(text, origin, public_key, f"checkpoint {path.name}")
        notes[size] = text
        if size in checkpoints and checkpoints[size] != root:
            raise Failed(f"two checkpoints of size {size} with different roots (a fork)")
        checkpoints[size] = root
    if not checkpoints:
        raise Failed("the bundle holds no checkpoint")
    sizes = sorted(checkpoints)
    latest = sizes[-1]
    if manifest["tree_size"] != latest:
        raise Failed(f"the manifest says tree size {manifest['tree_size']}, the latest signed "
                     f"checkpoint says {latest}")
    if base64.b64encode(checkpoints[latest]).decode() != manifest["root_hash"]:
        raise Failed(f"checkpoint {latest} has another root than the one the signed manifest "
                     "names")
    if len(checkpoints) != manifest["checkpoints"]:
        raise Failed(f"the signed manifest lists {manifest['checkpoints']} checkpoints, the "
                     f"bundle holds {len(checkpoints)}: checkpoints were removed")

    # The witnesses: each co-signs only a tree that extends what it co-signed before, so K
    # of them on the latest checkpoint mean this is the history they saw, not a fork shown
    # to us alone. Earlier checkpoints are covered by the consistency proofs below.
    cosigners = set()
    for size in sizes:
        names = cosigned_by(notes[size], witnesses, f"checkpoint {size}")
        if size == latest:
            cosigners = set(names)
    if len(cosigners) < needed:
        raise Failed(f"the latest checkpoint {latest} is co-signed by {len(cosigners)} of the "
                     f"{len(witnesses)} witnesses ({', '.join(sorted(cosigners)) or 'none'}), "
                     f"the policy needs {needed}: nothing shows they saw this history, so it "
                     "may be a split view")

    # Consecutive checkpoints must each extend the one before (append-only, no fork).
    proofs = {}
    consistency_file = bundle / "proofs" / "consistency.jsonl"
    if consistency_file.exists():
        for line in consistency_file.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            proofs[(item["old_size"], item["new_size"])] = [bytes.fromhex(h)
                                                             for h in item["proof"]]
    for old, new in zip(sizes, sizes[1:], strict=False):
        if not verify_consistency(old, new, checkpoints[old], checkpoints[new],
                                  proofs.get((old, new), [])):
            raise Failed(f"checkpoint {new} does not extend checkpoint {old}: the log was "
                         "rewritten between them")

    # Entries: contiguous seq, canonical lines, hashes as recorded.
    first = manifest["first_seq"]
    # entry_hashes.txt runs alongside entries.jsonl: it only helps name an edited entry.
    hashes_file = bundle / "entry_hashes.txt"
    hints = hashes_file.open("r", encoding="utf-8") if hashes_file.exists() else None
    digests = bytearray()  # 32 bytes per entry: a million entries take 32 MB
    selection = Selection(bundle, manifest)
    expected = first
    with (bundle / "entries.jsonl").open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip(b"\n")
            try:
                entry = json.loads(line)
            except ValueError as exc:
                raise Failed(f"entries.jsonl line {lineno} is not JSON") from exc
            seq = entry.get("seq") if isinstance(entry, dict) else None
            if not isinstance(seq, int):
                raise Failed(f"entries.jsonl line {lineno} has no seq")
            if seq != expected:
                if seq < expected:
                    raise Failed(f"entry {seq} at line {lineno} comes after entry {expected - 1}"
                                 ": an entry was inserted or the entries were reordered")
                raise Failed(f"entry {expected} is missing (line {lineno} holds entry {seq}): "
                             "an entry was deleted or the entries were reordered")
            if canonical(entry) != line:
                raise Failed(f"entry {seq} is not in canonical form: it was edited")
            digest = hashlib.sha256(line).digest()
            hint = hints.readline().split() if hints else []
            if len(hint) == 2 and hint[0] == str(seq) and hint[1] != digest.hex():
                raise Failed(f"entry {seq} was edited: its hash differs from the recorded one")
            digests += digest
            selection.offer(seq, entry.get("action"), line + b"\n")
            expected += 1
    if hints:
        hints.close()
    selected = selection.finish()
    last = expected - 1
    if last != manifest["last_seq"]:
        damage = ("entries were removed" if last < manifest["last_seq"]
                  else "entries were added past the signed range")
        raise Failed(f"the bundle should hold entries {first}..{manifest['last_seq']} but "
                     f"ends at {last}: {damage}")
    if expected - first != manifest["entries"]:
        raise Failed(f"the signed manifest counts {manifest['entries']} entries, the bundle "
                     f"holds {expected - first}")

    trusted_cps = [(path.name, *read_checkpoint(path.read_text(encoding="utf-8"), origin,
                                                 public_key, f"trusted checkpoint {path.name}"))
                   for path in trusted]
    complete = first == 0 and last == latest - 1
    if complete != manifest["complete"]:
        raise Failed("the signed manifest and the entries disagree on whether this is the "
                     "whole log")
    roots_seen: dict[int, bytes] = {}
    if complete:
        # Rebuild the tree from the entries and meet every signed root on the way.
        frontier = Frontier()
        wanted = set(sizes) | {size for _, size, _ in trusted_cps}
        for i in range(0, len(digests), 32):
            frontier.append(leaf_hash(bytes(digests[i:i + 32])))
            if frontier.size in wanted:
                roots_seen[frontier.size] = frontier.root()
        for size in sizes:
            if size == 0:
                continue
            if size > frontier.size:
                raise Failed(f"checkpoint {size} covers entries up to {size - 1}, but the "
                             f"bundle ends at entry {frontier.size - 1}: entries were removed")
            if roots_seen[size] != checkpoints[size]:
                raise Failed(f"checkpoint {size}: the entries before it do not give its signed"
                             " root (an entry was edited, inserted, removed or reordered)")
        if frontier.size != latest:
            raise Failed(f"the bundle holds {frontier.size} entries but the latest checkpoint "
                         f"covers {latest}")
    else:
        # A range of the log: each entry proven at its place in the latest signed tree.
        with (bundle / "proofs" / "inclusion.jsonl").open(encoding="utf-8") as proofs_file:
            for i in range(0, len(digests), 32):
                seq = first + i // 32
                item = json.loads(proofs_file.readline() or "{}")
                proof = [bytes.fromhex(h) for h in item.get("proof", [])]
                if item.get("seq") != seq or item.get("tree_size") != latest or \
                        not verify_inclusion(leaf_hash(bytes(digests[i:i + 32])), seq, latest,
                                             proof, checkpoints[latest]):
                    raise Failed(f"entry {seq} is not at place {seq} of the signed tree of "
                                 f"size {latest}: it was edited, inserted or moved")

    for _name, size, root in trusted_cps:
        if size > latest:
            raise Failed(f"the log was truncated: your trusted checkpoint covers {size} entries"
                         f", this bundle's latest only {latest}")
        if size in checkpoints:
            if checkpoints[size] != root:
                raise Failed(f"your trusted checkpoint of size {size} has another root than "
                             "this log's: history was rewritten")
        elif complete and size in roots_seen:
            if roots_seen[size] != root:
                raise Failed(f"your trusted checkpoint of size {size} does not match the "
                             "entries: history was rewritten")
        else:
            raise Failed(f"your trusted checkpoint of size {size} is not in this log's "
                         "checkpoint history: history was rewritten")
    whose = ("pinned with --public-key" if pinned_key else
             "the bundle's own key: compare it with the one the service gave you")
    witnessed = (f"co-signed by {', '.join(sorted(cosigners))}" if cosigners
                 else "co-signed by no known witness")
    witness_keys = ("keys pinned with --witness" if witnesses_pinned else
                    "keys from the bundle's witnesses.json" if witnesses else "no witness keys")
    return (f"OK: entries {first}..{last} of {latest}; {len(sizes)} signed checkpoints, "
            f"latest root {base64.b64encode(checkpoints[latest]).decode()}; manifest signed "
            f"by key {key_id(public_key)} ({whose}); latest checkpoint {witnessed} "
            f"({len(cosigners)} of {len(witnesses)}, quorum {needed}; {witness_keys})"
            f"{selected}{attached}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a consent-broker audit bundle.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--trusted-checkpoint", type=Path, action="append", default=[],
                        help="a checkpoint note you saved earlier; may repeat")
    parser.add_argument("--public-key", help="the service's Ed25519 public key (base64), "
                        "obtained separately")
    parser.add_argument("--witness", action="append", default=[], metavar="NAME=VKEY",
                        help="a witness whose cosignature counts, by its verifier key; may "
                             "repeat")
    parser.add_argument("--quorum", type=int, metavar="K",
                        help="how many of the witnesses must co-sign the latest checkpoint "
                             "(default: all those named with --witness, else 0)")
    args = parser.parse_args(argv)
    try:
        print(verify_bundle(args.bundle, args.trusted_checkpoint, args.public_key,
                            args.witness, args.quorum))
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as exc:
        print(f"FAILED: the bundle is damaged or incomplete: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
