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
                          subjects=[merchant.public_id], target_type="data_subject",
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
