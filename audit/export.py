"""Writing the bundle the commission verifies offline (see audit/bundle/README.md)."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from audit import signing
from audit.chain import canonical_entry
from audit.checkpoints import verifier_key
from audit.merkle import MerkleTree, leaf_hash
from audit.models import AuditEvent, Checkpoint, WitnessCosignature
from audit.sealing import LogStateLost, audit_log_seal
from audit.witnessing import WitnessOutcome, witnesses_ask_now

BUNDLE_SOURCE = Path(__file__).resolve().parent / "bundle"
# The witness program travels with the bundle: the commission can run it from there.
WITNESS_SOURCE = Path(__file__).resolve().parent / "witness"
# Names what the signature over manifest.json means: the same key signs release manifests and
# consent receipts, and verify.py accepts only a manifest that says it is this one.
MANIFEST_FORMAT = "consent-broker-audit-bundle/1"
# Files other apps put in the bundle (audit imports none of them): each provider returns
# {relative name: exact bytes}, written under attachments/ with their SHA-256 in the signed
# manifest. settlement registers its co-signed statements here from its AppConfig.ready.
BUNDLE_ATTACHMENTS: list[Callable[[], dict[str, bytes]]] = []
ROW_FIELDS = ("seq", "created_at", "actor_type", "actor_id", "action", "target_type",
              "target_id", "details", "request_id")


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    first_seq: int
    last_seq: int
    tree_size: int
    checkpoints: int
    complete: bool
    witnesses: tuple[WitnessOutcome, ...] = ()
    selected: int | None = None  # entries in selection.jsonl, when actions were chosen


def audit_bundle_export(*, out_dir: Path, since: datetime | None = None,
                        until: datetime | None = None,
                        on_progress: Callable[[int], None] | None = None,
                        actions: Sequence[str] = ()) -> ExportReport:
    """Seal, sign a final checkpoint, have it co-signed, and write the bundle of [since, until).

    A time window is widened to a contiguous run of ``seq``: from the first entry recorded
    at or after ``since`` to the last one recorded before ``until``, with everything between.
    ``on_progress`` is called with the number of entries written so far. ``actions``
    (patterns such as ``access.*``) also writes selection.jsonl: the window's entries with
    those actions, line for line as in entries.jsonl. The bundle still holds the whole
    window, so the verifier proves that no selected entry was left out.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} is not empty")
    try:
        audit_log_seal(force_checkpoint=True)
    except LogStateLost as exc:
        raise ExportError(str(exc)) from exc
    # Before reading the checkpoints, so that the final one carries what the witnesses say.
    witnessed = tuple(witnesses_ask_now())
    latest = Checkpoint.objects.order_by("-size").first()
    if latest is None or latest.size == 0:
        raise ExportError("the audit log is empty: nothing to export")
    tree_size = latest.size

    sealed = AuditEvent.objects.filter(seq__isnull=False, seq__lt=tree_size)
    window = sealed
    if since:
        window = window.filter(created_at__gte=since)
    if until:
        window = window.filter(created_at__lt=until)
    first = window.order_by("seq").values_list("seq", flat=True).first()
    last = window.order_by("-seq").values_list("seq", flat=True).first()
    if first is None:
        raise ExportError("no audit entry in that time window")

    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out_dir / "proofs").mkdir()
    selection = _Selection(out_dir, actions)
    with (out_dir / "entries.jsonl").open("wb") as entries, \
            (out_dir / "entry_hashes.txt").open("w", encoding="utf-8") as hashes, selection:
        rows = (sealed.filter(seq__gte=first, seq__lte=last).order_by("seq")
                .values_list(*ROW_FIELDS, "entry_hash").iterator(chunk_size=10_000))
        for *fields, stored_hash in rows:
            line = canonical_entry(**dict(zip(ROW_FIELDS, fields, strict=True))) + b"\n"
            entries.write(line)
            selection.offer(fields[ROW_FIELDS.index("action")], line)
            hashes.write(f"{fields[0]} {stored_hash}\n")
            if on_progress is not None and fields[0] % 10_000 == 0:
                on_progress(fields[0] - first)

    leaf_hashes = [leaf_hash(bytes.fromhex(h)) for h in
                   sealed.order_by("seq").values_list("entry_hash", flat=True)
                   .iterator(chunk_size=50_000)]
    tree = MerkleTree(leaf_hashes)
    checkpoints = list(Checkpoint.objects.filter(size__lte=tree_size).order_by("size")
                       .values_list("size", "note"))
    cosignatures: dict[int, str] = {}
    for size, line in (WitnessCosignature.objects.filter(checkpoint__size__lte=tree_size)
                       .order_by("witness", "key_id").values_list("checkpoint__size", "line")):
        cosignatures[size] = cosignatures.get(size, "") + line
    for size, note in checkpoints:
        (out_dir / "checkpoints" / f"{size:012d}.note").write_text(
            note + cosignatures.get(size, ""), encoding="utf-8")
    with (out_dir / "proofs" / "consistency.jsonl").open("w", encoding="utf-8") as fh:
        for (old, _), (new, _) in zip(checkpoints, checkpoints[1:], strict=False):
            proof = tree.consistency_proof(old, new)
            fh.write(json.dumps({"old_size": old, "new_size": new,
                                 "proof": [p.hex() for p in proof]}) + "\n")
    complete = first == 0 and last == tree_size - 1
    if not complete:
        with (out_dir / "proofs" / "inclusion.jsonl").open("w", encoding="utf-8") as fh:
            for seq in range(first, last + 1):
                fh.write(json.dumps({"seq": seq, "tree_size": tree_size, "proof": [
                    p.hex() for p in tree.inclusion_proof(seq, tree_size)]}) + "\n")

    attachments = _write_attachments(out_dir)
    origin = settings.AUDIT_LOG_ORIGIN
    public_key = signing.service_public_key_bytes()
    (out_dir / "public_key").write_text(
        f"Ed25519 public key (base64): {signing.service_public_key_b64()}\n"
        f"key id: {signing.service_key_id()}\n"
        f"signed-note verifier key: {verifier_key(origin, public_key)}\n", encoding="utf-8")
    (out_dir / "public_key.json").write_text(json.dumps({
        "algorithm": "Ed25519", "public_key": signing.service_public_key_b64(),
        "key_id": signing.service_key_id(), "note_verifier_key": verifier_key(origin, public_key),
    }, indent=2) + "\n", encoding="utf-8")
    _write_signed_manifest(out_dir, {
        "format": MANIFEST_FORMAT, "origin": origin, "key_id": signing.service_key_id(),
        "first_seq": first, "last_seq": last, "entries": last - first + 1,
        "tree_size": tree_size,
        "root_hash": base64.b64encode(bytes.fromhex(latest.root_hash)).decode(),
        "checkpoints": len(checkpoints), "complete": complete,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "exported_at": timezone.now().isoformat(),
        **selection.manifest(),
        **({"attachments": attachments} if attachments else {}),
    })
    (out_dir / "witnesses.json").write_text(json.dumps(
        [{"name": w["name"], "vkey": w["vkey"]} for w in settings.AUDIT_WITNESSES], indent=2)
        + "\n", encoding="utf-8")
    shutil.copyfile(BUNDLE_SOURCE / "verify.py", out_dir / "verify.py")
    shutil.copyfile(BUNDLE_SOURCE / "README.md", out_dir / "README.md")
    (out_dir / "witness").mkdir()
    for source in sorted(WITNESS_SOURCE.glob("*.py")):
        shutil.copyfile(source, out_dir / "witness" / source.name)
    if on_progress is not None:
        on_progress(last - first + 1)
    return ExportReport(out_dir=out_dir, first_seq=first, last_seq=last, tree_size=tree_size,
                        checkpoints=len(checkpoints), complete=complete, witnesses=witnessed,
                        selected=selection.count if actions else None)


def _write_attachments(out_dir: Path) -> dict[str, str]:
    """The registered providers' files under attachments/; {name: SHA-256 hex}, sorted."""
    files: dict[str, bytes] = {}
    for provider in BUNDLE_ATTACHMENTS:
        files.update(provider())
    for name, data in files.items():
        path = out_dir / "attachments" / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ExportError(f"attachment name {name!r} is not a relative path inside")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {name: hashlib.sha256(files[name]).hexdigest() for name in sorted(files)}


def _write_signed_manifest(out_dir: Path, manifest: dict) -> None:
    """manifest.json, and manifest.sig: the service key's Ed25519 signature over its bytes.

    Signing binds the exported range (first and last seq, the count) to the checkpoint the
    entries are proven against (its size and root) and to the number of checkpoints, so
    nobody can trim the bundle's edges and edit the manifest to match.
    """
    body = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    (out_dir / "manifest.json").write_bytes(body)
    (out_dir / "manifest.sig").write_bytes(signing.service_sign(body))


class _Selection:
    """selection.jsonl: the entries whose action matches a pattern (e.g. the access log,
    ``access.*``, for the commission's review of who looked at whose data). Its count and
    SHA-256 go into the signed manifest."""

    def __init__(self, out_dir: Path, actions: Sequence[str]):
        self.path, self.actions = out_dir / "selection.jsonl", sorted(set(actions))
        self.count, self.digest, self.file = 0, hashlib.sha256(), None

    def __enter__(self):
        if self.actions:
            self.file = self.path.open("wb")
        return self

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()

    def offer(self, action: str, line: bytes) -> None:
        if self.file is not None and any(fnmatch.fnmatchcase(action, p) for p in self.actions):
            self.file.write(line)
            self.digest.update(line)
            self.count += 1

    def manifest(self) -> dict:
        if not self.actions:
            return {}
        return {"selection": {"file": self.path.name, "actions": self.actions,
                              "entries": self.count, "sha256": self.digest.hexdigest()}}
