"""Verifying with witnesses: the bundle carries their cosignatures, their keys and the witness
program; verify.py and verify_audit accept the log only with a quorum of cosignatures."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.maintenance import maintenance_mode
from audit.models import Checkpoint, WitnessCosignature

from .conftest import configure, record, service_log_key


def _verify(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", str(bundle / "verify.py"), str(bundle), *args],
                          capture_output=True, text=True, cwd=bundle.parent, timeout=60)


@pytest.fixture
def two_witnesses(commission_witness, start_witness, settings):
    operator = start_witness("operator.example/witness",
                             {settings.AUDIT_LOG_ORIGIN: [service_log_key()]})
    configure(settings, commission_witness, operator)
    return commission_witness, operator


@pytest.fixture
def bundle(two_witnesses, tmp_path) -> Path:
    record(6)
    out = tmp_path / "bundle"
    call_command("export_audit", "--out", str(out), verbosity=0)
    return out


def _latest_note(bundle: Path) -> Path:
    return sorted((bundle / "checkpoints").glob("*.note"))[-1]


def _pins(*witnesses) -> list[str]:
    return [arg for w in witnesses for arg in ("--witness", f"{w.name}={w.vkey}")]


def test_the_bundle_carries_the_cosigned_notes_the_witnesses_keys_and_the_witness(
        bundle, two_witnesses, tmp_path):
    commission, operator = two_witnesses
    note = _latest_note(bundle).read_text(encoding="utf-8")
    assert f"\n\u2014 {commission.name} " in note and f"\n\u2014 {operator.name} " in note
    assert json.loads((bundle / "witnesses.json").read_text()) == [
        {"name": commission.name, "vkey": commission.vkey},
        {"name": operator.name, "vkey": operator.vkey}]
    program = {p.name for p in (bundle / "witness").iterdir()}
    assert {"__init__.py", "__main__.py", "note.py", "server.py", "state.py",
            "tlog.py"} <= program
    for source in (bundle / "witness").glob("*.py"):
        text = source.read_text()
        assert "django" not in text and "from audit" not in text, source.name
    # The commission runs it from the bundle, the project nowhere on its path.
    result = subprocess.run([sys.executable, "-E", "-s", "-m", "witness", "keygen", "--out",
                             str(tmp_path / "k.pem"), "--name", "commission.example/w2"],
                            cwd=bundle, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("commission.example/w2+")


def test_a_bundle_verifies_with_its_quorum_of_cosignatures(bundle, two_witnesses):
    commission, operator = two_witnesses
    result = _verify(bundle, *_pins(commission, operator), "--quorum", "2")
    assert result.returncode == 0, result.stderr
    assert (f"latest checkpoint co-signed by {commission.name}, {operator.name} "
            "(2 of 2, quorum 2; keys pinned with --witness)") in result.stdout
    # Without --quorum, every witness named must have co-signed.
    assert _verify(bundle, *_pins(commission)).returncode == 0


def test_a_bundle_with_one_cosignature_missing_fails_the_quorum(bundle, two_witnesses):
    commission, operator = two_witnesses
    path = _latest_note(bundle)
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if operator.name not in line), encoding="utf-8")
    result = _verify(bundle, *_pins(commission, operator), "--quorum", "2")
    assert result.returncode == 1
    assert (f"the latest checkpoint 6 is co-signed by 1 of the 2 witnesses "
            f"({commission.name}), the policy needs 2") in result.stderr
    assert _verify(bundle, *_pins(commission, operator), "--quorum", "1").returncode == 0


def test_a_forged_cosignature_fails_verification(bundle, two_witnesses):
    commission, _ = two_witnesses
    path = _latest_note(bundle)
    lines = path.read_text().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if commission.name in line)
    blob = bytearray(base64.b64decode(lines[i].split(" ")[2]))
    blob[-1] ^= 1
    lines[i] = f"\u2014 {commission.name} {base64.b64encode(bytes(blob)).decode()}\n"
    path.write_text("".join(lines), encoding="utf-8")
    result = _verify(bundle, *_pins(commission))
    assert result.returncode == 1
    assert f"the cosignature of witness {commission.name} does not verify" in result.stderr


def test_a_quorum_without_pinned_witnesses_counts_the_bundles_and_says_so(bundle):
    result = _verify(bundle, "--quorum", "2")
    assert result.returncode == 0, result.stderr
    assert "keys from the bundle's witnesses.json" in result.stdout
    assert _verify(bundle, "--quorum", "3").returncode == 1


def test_verify_audit_checks_the_stored_cosignatures_against_the_quorum(
        two_witnesses, capsys):
    commission, operator = two_witnesses
    record(3)
    call_command("verify_audit", *_pins(commission, operator))
    assert "6 witness cosignatures verified" in capsys.readouterr().out
    # A stored cosignature altered in the database (by its owner, past the triggers) is found.
    row = WitnessCosignature.objects.filter(witness=operator.name).order_by("-id").first()
    blob = bytearray(base64.b64decode(row.line.split(" ")[2]))
    blob[20] ^= 1
    with maintenance_mode():
        WitnessCosignature.objects.filter(pk=row.pk).update(
            line=f"\u2014 {operator.name} {base64.b64encode(bytes(blob)).decode()}\n")
    with pytest.raises(CommandError, match=f"cosignature of witness {operator.name} does not"):
        call_command("verify_audit", *_pins(commission, operator))


def test_a_checkpoint_that_waited_too_long_for_its_quorum_fails_verification(
        two_witnesses, settings):
    from audit.verification import AuditLogCorrupt, audit_cosignatures_verify
    from audit.witnessing import parse_witness_option

    commission, operator = two_witnesses
    record(2)
    configure(settings, commission)  # the operator's witness is no longer asked
    record(1)
    call_command("verify_audit", *_pins(commission, operator))  # still within the bound
    later = Checkpoint.objects.get(size=3).created_at + timedelta(seconds=301)
    keys = [parse_witness_option(f"{w.name}={w.vkey}") for w in (commission, operator)]
    with pytest.raises(AuditLogCorrupt, match=r"checkpoint 3 \(signed at .*\) has 1 of the 2 "
                                              "witness cosignatures required after more than "
                                              r"300 s.*the newest checkpoint with a quorum is 2"):
        audit_cosignatures_verify(witnesses=keys, quorum=2, max_wait_seconds=300, now=later)
