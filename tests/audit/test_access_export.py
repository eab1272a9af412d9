"""The audit export selects the access log (`--actions access.*`) for the commission, in a
bundle that still verifies: the whole window is there, so nothing selected can be missing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import transaction

from audit.sealing import audit_log_seal
from officers.access import access_record

from .conftest import record


@pytest.fixture
def log_with_access(transactional_db, settings, officer, merchant):
    settings.AUDIT_SEAL_INLINE = True
    settings.AUDIT_CHECKPOINT_INTERVAL = 0
    record(3)
    for action, reason in (("view", ""), ("download", "대체 고지 발송 (공문 7)")):
        with transaction.atomic():
            access_record(by=officer, address="127.0.0.1", action=action, reason=reason,
                          subjects=[merchant.public_id], target_type="governance.datasubject",
                          target_id=merchant.public_id)
    audit_log_seal(force_checkpoint=True)


def test_export_audit_selects_the_access_entries_and_the_bundle_still_verifies(
        log_with_access, tmp_path, capsys):
    out = tmp_path / "bundle"
    call_command("export_audit", "--out", str(out), "--actions", "access.*")

    assert "selection.jsonl: 2 entries of access.*" in capsys.readouterr().out
    selected = (out / "selection.jsonl").read_bytes()
    lines = [json.loads(line) for line in selected.splitlines()]
    assert [e["action"] for e in lines] == ["access.view", "access.download"]
    assert lines[1]["details"]["reason"] == "대체 고지 발송 (공문 7)"
    entries = (out / "entries.jsonl").read_bytes().splitlines(keepends=True)
    assert all(line in entries for line in selected.splitlines(keepends=True))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["selection"] == {"file": "selection.jsonl", "actions": ["access.*"],
                                     "entries": 2,
                                     "sha256": hashlib.sha256(selected).hexdigest()}
    verified = subprocess.run([sys.executable, "-I", str(out / "verify.py"), str(out)],
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr


def test_without_actions_the_bundle_has_no_selection(log_with_access, tmp_path):
    out = tmp_path / "bundle"
    call_command("export_audit", "--out", str(out), verbosity=0)
    assert not (out / "selection.jsonl").exists()
    assert "selection" not in json.loads((out / "manifest.json").read_text())


def _verify(out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", str(out / "verify.py"), str(out)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def selected_bundle(log_with_access, tmp_path):
    out = tmp_path / "bundle"
    call_command("export_audit", "--out", str(out), "--actions", "access.*", verbosity=0)
    return out


def test_verify_py_names_the_selection_it_checked(selected_bundle):
    verified = _verify(selected_bundle)
    assert verified.returncode == 0, verified.stderr
    assert "selection.jsonl: all 2 entries of access.*" in verified.stdout


def _rewrite_selection(out, change) -> None:
    path = out / "selection.jsonl"
    path.write_bytes(b"".join(change(path.read_bytes().splitlines(keepends=True))))


@pytest.mark.parametrize("change, says", [
    (lambda lines: lines[1:], "line 1 is not entry"),  # the first selected entry dropped
    (lambda lines: lines[:1], "ends before entry"),  # the last one dropped
    (lambda lines: lines[::-1], "line 1 is not entry"),  # reordered
    (lambda lines: [lines[0].replace(b"access.view", b"access.vieW"), lines[1]],
     "line 1 is not entry"),  # edited
    (lambda lines: lines + lines[1:], "holds more than the 2 entries"),  # one added
])
def test_a_tampered_selection_fails_verification(selected_bundle, change, says):
    _rewrite_selection(selected_bundle, change)
    verified = _verify(selected_bundle)
    assert verified.returncode == 1
    assert "FAILED: selection.jsonl" in verified.stderr and says in verified.stderr


def test_a_selection_with_an_entry_of_another_action_fails(selected_bundle):
    other = next(line for line in (selected_bundle / "entries.jsonl").read_bytes()
                 .splitlines(keepends=True) if b'"action":"plan.approved"' in line)
    _rewrite_selection(selected_bundle, lambda lines: [other, *lines])
    verified = _verify(selected_bundle)
    assert verified.returncode == 1 and "line 1 is not entry" in verified.stderr


def test_a_missing_or_unannounced_selection_fails(selected_bundle, log_with_access, tmp_path):
    (selected_bundle / "selection.jsonl").unlink()
    verified = _verify(selected_bundle)
    assert verified.returncode == 1
    assert "selection.jsonl is missing, but the signed manifest names it" in verified.stderr

    plain = tmp_path / "plain"
    call_command("export_audit", "--out", str(plain), verbosity=0)
    (plain / "selection.jsonl").write_bytes(b"")
    verified = _verify(plain)
    assert verified.returncode == 1
    assert "selection.jsonl is not named by the signed manifest" in verified.stderr
