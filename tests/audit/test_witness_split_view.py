"""A split view is caught: two forks of the log from the same prefix, one rewritten entry.

The service's operator, holding its signing key, keeps the honest log for the commission and
shows the operators' witness a fork in which entry 7 says something else. Both witnesses saw
the common prefix (5 entries). Presented to the same witness, the second fork is refused;
each witness alone co-signs the fork it was shown (each is consistent with what it saw), so
the bundle verifier with quorum 2 refuses both bundles.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings as django_settings
from django.core.management import call_command

from audit import signing
from audit.checkpoints import sign_checkpoint
from audit.merkle import MerkleTree, leaf_hash

from .conftest import configure, post, record, service_log_key

REWRITTEN = 7


def fork_bundle(honest: Path, forked: Path, *, seq: int) -> MerkleTree:
    """The bundle an operator with the service's key would make after rewriting ``seq``."""
    shutil.copytree(honest, forked)
    lines = (forked / "entries.jsonl").read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[seq])
    entry["details"] = {**entry["details"], "version": 999}
    lines[seq] = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    (forked / "entries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    digests = [hashlib.sha256(line.encode()).digest() for line in lines]
    (forked / "entry_hashes.txt").write_text(
        "".join(f"{i} {d.hex()}\n" for i, d in enumerate(digests)), encoding="utf-8")
    tree = MerkleTree([leaf_hash(d) for d in digests])
    sizes = sorted(int(p.stem) for p in (forked / "checkpoints").glob("*.note"))
    for size in sizes:
        if size > seq:  # every checkpoint over the rewritten entry, re-signed, uncosigned
            (forked / "checkpoints" / f"{size:012d}.note").write_text(sign_checkpoint(
                origin=django_settings.AUDIT_LOG_ORIGIN, size=size, root_hash=tree.root(size),
                public_key=signing.service_public_key_bytes(), sign=signing.service_sign))
    (forked / "proofs" / "consistency.jsonl").write_text("".join(
        json.dumps({"old_size": old, "new_size": new,
                    "proof": [p.hex() for p in tree.consistency_proof(old, new)]}) + "\n"
        for old, new in zip(sizes, sizes[1:], strict=False)))
    manifest = json.loads((forked / "manifest.json").read_text())
    manifest["root_hash"] = base64.b64encode(tree.root(sizes[-1])).decode()
    body = (json.dumps(manifest, indent=2) + "\n").encode()
    (forked / "manifest.json").write_bytes(body)
    (forked / "manifest.sig").write_bytes(signing.service_sign(body))
    return tree


def _request(tree: MerkleTree, old: int, note: str) -> bytes:
    return (f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n"
                                     for p in tree.consistency_proof(old, tree.size))
            + "\n" + note).encode()


def _verify(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", str(bundle / "verify.py"), str(bundle), *args],
                          capture_output=True, text=True, cwd=bundle.parent, timeout=60)


def test_two_forks_are_refused_by_one_witness_and_by_a_quorum_of_two(
        commission_witness, start_witness, settings, tmp_path):
    commission = commission_witness
    operators = start_witness("operator.example/witness",
                              {settings.AUDIT_LOG_ORIGIN: [service_log_key()]})
    configure(settings, commission, operators)
    record(5)  # the common prefix, co-signed by both
    configure(settings, commission)
    record(5)  # the honest history goes on before the commission only
    honest = tmp_path / "honest"
    call_command("export_audit", "--out", str(honest), verbosity=0)
    forked = tmp_path / "forked"
    tree = fork_bundle(honest, forked, seq=REWRITTEN)
    fork_note = (forked / "checkpoints" / f"{10:012d}.note").read_text()

    # The same witness is never fooled: it co-signed the honest 10 already.
    assert post(commission.url, _request(tree, 5, fork_note))[:3] == (
        409, "text/x.tlog.size", b"10\n")
    assert post(commission.url, _request(tree, 10, fork_note))[0] == 409
    # The operators' witness saw only the prefix of 5: the fork extends it, so it co-signs.
    status, _, line = post(operators.url, _request(tree, 5, fork_note))
    assert status == 200
    (forked / "checkpoints" / f"{10:012d}.note").write_text(fork_note + line.decode())

    pins = [arg for w in (commission, operators)
            for arg in ("--witness", f"{w.name}={w.vkey}")]
    # Each bundle alone looks fine with its own witness ...
    assert _verify(honest, *pins, "--quorum", "1").returncode == 0
    assert _verify(forked, *pins, "--quorum", "1").returncode == 0
    # ... and neither has the two cosignatures the commission's policy asks for.
    for bundle, signer in ((honest, commission), (forked, operators)):
        result = _verify(bundle, *pins, "--quorum", "2")
        assert result.returncode == 1
        assert (f"the latest checkpoint 10 is co-signed by 1 of the 2 witnesses "
                f"({signer.name}), the policy needs 2") in result.stderr
