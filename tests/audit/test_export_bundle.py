"""The commission's bundle: verify.py passes an honest one and names every kind of tampering.

verify.py runs as a subprocess with a bare `python -I` from a copy outside the project, so it
cannot import anything of ours.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from audit.sealing import audit_log_seal

from .conftest import record


def _verify(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", str(bundle / "verify.py"), str(bundle), *args],
                          capture_output=True, text=True, cwd=bundle.parent, timeout=60)


@pytest.fixture
def bundle(sealed_log, tmp_path) -> Path:
    out = tmp_path / "bundle"
    call_command("export_audit", "--out", str(out), verbosity=0)
    return out


def _lines(bundle: Path) -> list[str]:
    return (bundle / "entries.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def _write(bundle: Path, lines: list[str]) -> None:
    (bundle / "entries.jsonl").write_text("".join(lines), encoding="utf-8")


def test_an_honest_bundle_verifies_with_the_standard_library_and_cryptography(bundle):
    result = _verify(bundle)
    assert result.returncode == 0, result.stderr
    assert "OK: entries 0..11 of 12" in result.stdout
    assert sorted(p.name for p in bundle.iterdir()) == [
        "README.md", "checkpoints", "entries.jsonl", "entry_hashes.txt", "manifest.json",
        "manifest.sig", "proofs", "public_key", "public_key.json", "verify.py", "witness",
        "witnesses.json"]
    from audit.signing import service_key_id, service_public_key_b64

    key_text = (bundle / "public_key").read_text()
    assert service_public_key_b64() in key_text and service_key_id() in key_text
    readme = (bundle / "README.md").read_text(encoding="utf-8")
    assert "검증 방법" in readme and "Verify it" in readme


def test_an_edited_entry_is_named(bundle):
    lines = _lines(bundle)
    lines[5] = lines[5].replace('"action":"plan.approved"', '"action":"plan.rejected"')
    _write(bundle, lines)
    result = _verify(bundle)
    assert result.returncode == 1
    assert "entry 5 was edited" in result.stderr


def test_an_edited_entry_with_its_hash_updated_breaks_the_signed_root(bundle):
    import hashlib

    lines = _lines(bundle)
    lines[5] = lines[5].replace('"action":"plan.approved"', '"action":"plan.rejected"')
    _write(bundle, lines)
    hashes = (bundle / "entry_hashes.txt").read_text().splitlines()
    hashes[5] = f"5 {hashlib.sha256(lines[5].rstrip(chr(10)).encode()).hexdigest()}"
    (bundle / "entry_hashes.txt").write_text("\n".join(hashes) + "\n")
    result = _verify(bundle)
    assert result.returncode == 1
    assert "checkpoint" in result.stderr and "do not give its signed root" in result.stderr


def test_a_deleted_entry_is_named(bundle):
    lines = _lines(bundle)
    del lines[7]
    _write(bundle, lines)
    result = _verify(bundle)
    assert result.returncode == 1
    assert "entry 7 is missing" in result.stderr


def test_an_inserted_entry_is_named(bundle):
    lines = _lines(bundle)
    forged = json.loads(lines[3])
    forged["action"] = "plan.deleted"
    lines.insert(4, json.dumps(forged, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False) + "\n")
    _write(bundle, lines)
    result = _verify(bundle)
    assert result.returncode == 1
    assert "entry 3 at line 5 comes after entry 3" in result.stderr


def test_reordered_entries_are_named(bundle):
    lines = _lines(bundle)
    lines[2], lines[3] = lines[3], lines[2]
    _write(bundle, lines)
    result = _verify(bundle)
    assert result.returncode == 1
    assert "entry 2 is missing" in result.stderr and "reordered" in result.stderr


def test_reordered_entries_renumbered_to_hide_it_break_the_hashes(bundle):
    lines = [json.loads(line) for line in _lines(bundle)]
    lines[2], lines[3] = lines[3], lines[2]
    lines[2]["seq"], lines[3]["seq"] = 2, 3
    _write(bundle, [json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                    + "\n" for e in lines])
    result = _verify(bundle)
    assert result.returncode == 1
    assert "entry 2 was edited" in result.stderr


def test_a_forged_checkpoint_is_refused(bundle):
    note_path = sorted((bundle / "checkpoints").glob("*.note"))[-1]
    note_path.write_text(note_path.read_text().replace("\n12\n", "\n13\n"))
    result = _verify(bundle)
    assert result.returncode == 1
    assert "signature does not verify" in result.stderr


def test_a_log_truncated_behind_a_saved_checkpoint_is_caught(sealed_log, tmp_path,
                                                              settings):
    saved = tmp_path / "saved.note"
    from audit.models import Checkpoint

    saved.write_text(Checkpoint.objects.get(size=12).note, encoding="utf-8")
    record(3, start=12)
    audit_log_seal(force_checkpoint=True)
    out = tmp_path / "bundle"
    call_command("export_audit", "--out", str(out), verbosity=0)
    assert _verify(out, "--trusted-checkpoint", str(saved)).returncode == 0

    # The operator cuts the log back to 10 entries and re-exports from there: the bundle
    # is self-consistent, but the commission's saved checkpoint covers 12 entries.
    lines = _lines(out)[:10]
    _write(out, lines)
    for note in (out / "checkpoints").glob("*.note"):
        if int(note.stem) > 10:
            note.unlink()
    checkpoints = sorted(int(p.stem) for p in (out / "checkpoints").glob("*.note"))
    # The operator holds the service key, so its re-export carries a valid manifest signature.
    import base64

    from audit.signing import service_sign

    root = Checkpoint.objects.get(size=checkpoints[-1]).root_hash
    _edit_manifest(out, last_seq=9, entries=10, tree_size=checkpoints[-1],
                   checkpoints=len(checkpoints),
                   root_hash=base64.b64encode(bytes.fromhex(root)).decode())
    (out / "manifest.sig").write_bytes(service_sign((out / "manifest.json").read_bytes()))
    assert _verify(out).returncode == 0  # self-consistent: only the saved checkpoint knows
    result = _verify(out, "--trusted-checkpoint", str(saved))
    assert result.returncode == 1
    assert "the log was truncated" in result.stderr or "entries were removed" in result.stderr


def test_a_saved_checkpoint_from_another_history_is_caught(bundle, tmp_path):
    from audit.checkpoints import sign_checkpoint
    from audit.signing import service_public_key_bytes, service_sign

    other = tmp_path / "other.note"
    other.write_text(sign_checkpoint(origin=json.loads((bundle / "manifest.json").read_text())
                                     ["origin"], size=12, root_hash=b"\x07" * 32,
                                     public_key=service_public_key_bytes(), sign=service_sign))
    result = _verify(bundle, "--trusted-checkpoint", str(other))
    assert result.returncode == 1
    assert "history was rewritten" in result.stderr


def test_a_bundle_with_someone_elses_key_fails_against_the_pinned_key(bundle):
    import base64
    import os

    result = _verify(bundle, "--public-key", base64.b64encode(os.urandom(32)).decode())
    assert result.returncode == 1
    assert "not the one you pinned" in result.stderr


def test_a_time_window_exports_a_range_proven_by_inclusion_proofs(sealed_log, tmp_path):
    from audit.models import AuditEvent

    since = AuditEvent.objects.get(seq=4).created_at
    until = AuditEvent.objects.get(seq=8).created_at
    out = tmp_path / "window"
    call_command("export_audit", "--out", str(out), "--since", since.isoformat(),
                 "--until", until.isoformat(), verbosity=0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["first_seq"], manifest["last_seq"], manifest["complete"]) == (4, 7, False)
    assert _verify(out).returncode == 0

    copy = tmp_path / "window-edited"
    shutil.copytree(out, copy)
    lines = _lines(copy)
    lines[1] = lines[1].replace('"action":"plan.approved"', '"action":"plan.rejected"')
    _write(copy, lines)
    (copy / "entry_hashes.txt").unlink()
    result = _verify(copy)
    assert result.returncode == 1
    assert "entry 5 is not at place 5 of the signed tree" in result.stderr


def test_a_window_from_the_start_of_the_log_verifies_too(sealed_log, tmp_path):
    from audit.models import AuditEvent

    out = tmp_path / "head"
    call_command("export_audit", "--out", str(out), "--until",
                 AuditEvent.objects.get(seq=5).created_at.isoformat(), verbosity=0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["first_seq"], manifest["last_seq"], manifest["complete"]) == (0, 4, False)
    result = _verify(out)
    assert result.returncode == 0, result.stderr
    assert "OK: entries 0..4 of 12" in result.stdout


def test_an_empty_log_cannot_be_exported(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="empty"):
        call_command("export_audit", "--out", str(tmp_path / "x"))


def test_verify_py_imports_only_the_standard_library_and_cryptography():
    import ast

    from audit.export import BUNDLE_SOURCE

    tree = ast.parse((BUNDLE_SOURCE / "verify.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_a_bundle_with_awkward_details_verifies(transactional_db, settings, tmp_path):
    from django.db import transaction

    from audit.services import audit_record

    settings.AUDIT_SEAL_INLINE = True
    for details in ({"ratio": 0.1, "big": 1e20, "neg": -0.0},
                    {"text": 'q " b \\ t \t\u2028 한글 \U0001f600', "": [None, True, {}]}):
        with transaction.atomic():
            audit_record(actor_type="system", actor_id="system:test", action="odd.details",
                         target_type="thing", target_id="1", details=details)
    out = tmp_path / "odd"
    call_command("export_audit", "--out", str(out), verbosity=0)
    result = _verify(out)
    assert result.returncode == 0, result.stderr


# --- The signed manifest: a window cannot lose its edges ---------------------------------


@pytest.fixture
def window(sealed_log, tmp_path) -> Path:
    """Entries 4..7 of 12, each proven by inclusion in the latest checkpoint's tree."""
    from audit.models import AuditEvent

    out = tmp_path / "window"
    call_command("export_audit", "--out", str(out),
                 "--since", AuditEvent.objects.get(seq=4).created_at.isoformat(),
                 "--until", AuditEvent.objects.get(seq=8).created_at.isoformat(), verbosity=0)
    return out


def _drop_entry(bundle: Path, index: int) -> None:
    """Remove one entry with its inclusion proof and hash line, as a careful forger would."""
    for name in ("entries.jsonl", "entry_hashes.txt", "proofs/inclusion.jsonl"):
        lines = (bundle / name).read_text(encoding="utf-8").splitlines(keepends=True)
        del lines[index]
        (bundle / name).write_text("".join(lines), encoding="utf-8")


def _edit_manifest(bundle: Path, **changes) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(changes)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n",
                                          encoding="utf-8")


def test_it_refuses_a_window_whose_first_entry_was_dropped(window):
    _drop_entry(window, 0)
    _edit_manifest(window, first_seq=5, entries=3)
    result = _verify(window)
    assert result.returncode == 1
    assert "manifest.json is not what the service signed" in result.stderr


def test_it_refuses_a_window_whose_last_entry_was_dropped(window):
    _drop_entry(window, -1)
    _edit_manifest(window, last_seq=6, entries=3)
    result = _verify(window)
    assert result.returncode == 1
    assert "manifest.json is not what the service signed" in result.stderr


def test_it_names_an_edge_entry_dropped_under_the_signed_manifest(window, tmp_path):
    first_dropped = tmp_path / "first-dropped"
    shutil.copytree(window, first_dropped)
    _drop_entry(first_dropped, 0)
    result = _verify(first_dropped)
    assert result.returncode == 1 and "entry 4 is missing" in result.stderr

    _drop_entry(window, -1)
    result = _verify(window)
    assert result.returncode == 1
    assert "should hold entries 4..7 but ends at 6" in result.stderr


def test_it_refuses_a_bundle_whose_manifest_is_not_signed(window):
    (window / "manifest.sig").unlink(missing_ok=True)
    result = _verify(window)
    assert result.returncode == 1
    assert "manifest.sig is missing" in result.stderr


def test_it_refuses_a_manifest_signed_by_another_key(window):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _drop_entry(window, -1)
    _edit_manifest(window, last_seq=6, entries=3)
    forger = Ed25519PrivateKey.generate()
    (window / "manifest.sig").write_bytes(forger.sign((window / "manifest.json").read_bytes()))
    result = _verify(window)
    assert result.returncode == 1
    assert "manifest.json is not what the service signed" in result.stderr


def test_it_refuses_a_bundle_that_dropped_some_of_its_checkpoints(bundle):
    notes = sorted((bundle / "checkpoints").glob("*.note"))
    assert len(notes) > 2
    for note in notes[:2]:  # the oldest two, and the consistency proof that joined them
        note.unlink()
    proofs = (bundle / "proofs" / "consistency.jsonl").read_text().splitlines(keepends=True)
    (bundle / "proofs" / "consistency.jsonl").write_text("".join(proofs[2:]))
    result = _verify(bundle)
    assert result.returncode == 1
    assert f"the signed manifest lists {len(notes)} checkpoints, the bundle holds " \
           f"{len(notes) - 2}" in result.stderr


def test_the_signed_manifest_binds_the_window_to_the_checkpoint_its_proofs_use(window):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from audit.models import Checkpoint
    from audit.signing import service_key_id, service_public_key_bytes

    body = (window / "manifest.json").read_bytes()
    Ed25519PublicKey.from_public_bytes(service_public_key_bytes()).verify(
        (window / "manifest.sig").read_bytes(), body)  # raises if not
    manifest = json.loads(body)
    latest = Checkpoint.objects.order_by("-size").first()
    assert manifest["format"] == "consent-broker-audit-bundle/1"
    assert (manifest["first_seq"], manifest["last_seq"], manifest["entries"]) == (4, 7, 4)
    assert manifest["tree_size"] == latest.size == 12
    assert manifest["root_hash"] == base64.b64encode(bytes.fromhex(latest.root_hash)).decode()
    assert manifest["checkpoints"] == Checkpoint.objects.count()
    assert manifest["key_id"] == service_key_id()
    result = _verify(window)
    assert result.returncode == 0, result.stderr
    assert f"manifest signed by key {service_key_id()}" in result.stdout


def test_an_export_refuses_while_the_log_state_is_lost(sealed_log, tmp_path):
    from django.core.management.base import CommandError

    from audit.maintenance import maintenance_mode
    from audit.models import LogState

    with maintenance_mode():
        LogState.objects.all().delete()
    with pytest.raises(CommandError, match="the audit log state row is missing"):
        call_command("export_audit", "--out", str(tmp_path / "x"))
