"""The incoming operator: pull, verify, decrypt and acknowledge a release; confirm the
deletions owed; report, signed, the records it could not apply."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import time
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from .api import Api, ClientError

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
# The post-quantum option: ML-KEM-768 + X25519 (X-Wing, HPKE KEM 0x647A), named in the
# manifest's `suite.kem_id`; the keys file then also holds `hpke_mlkem_seed` (64 bytes).
HYBRID_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256,
                          hpke.AEAD.AES_256_GCM)
KEM_X25519, KEM_HYBRID = 0x0020, 0x647A
FORMAT = "consent-broker-release/1"
BALANCE_FIELD = "user.certificate_balance"


def _recipient_plan(api: Api, plan_id: int | None) -> int:
    if plan_id is not None:
        return plan_id
    plans = [p for p in api.json("GET", "/api/plans")["plans"] if p["role"] == "recipient"]
    if len(plans) != 1:
        raise ClientError(f"{len(plans)} plans name us as recipient: pass --plan")
    return plans[0]["id"]


def _choose_release(api: Api, plan_id: int, new: bool, wait_seconds: float) -> dict:
    if not new:
        releases = api.json("GET", f"/api/plans/{plan_id}/releases")["releases"]
        ready = [r for r in releases if r["status"] == "ready" and r["acknowledged"] is None]
        if ready:
            return max(ready, key=lambda r: r["number"])
    release = api.json("POST", f"/api/plans/{plan_id}/releases", expect=(202,))
    deadline = time.monotonic() + wait_seconds
    while release["status"] == "pending":
        if time.monotonic() > deadline:
            raise ClientError(f"release {release['id']} is still being built")
        time.sleep(1)
        release = api.json("GET", f"/api/releases/{release['id']}")
    if release["status"] != "ready":
        raise ClientError(f"release {release['id']} failed on the server")
    return release


def hybrid_keys_new() -> tuple[dict, bytes]:
    """A new post-quantum recipient key: the keys-file entries (keep them secret) and the
    1,216-byte public key to register (ML-KEM-768's public key, then X25519's)."""
    from cryptography.hazmat.primitives import serialization

    seed = secrets.token_bytes(64)
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
    x25519 = X25519PrivateKey.generate()
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    public = kem.public_key().public_bytes(*raw) + x25519.public_key().public_bytes(*raw)
    private = x25519.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                   serialization.NoEncryption())
    return {"hpke_mlkem_seed": base64.b64encode(seed).decode(),
            "hpke_private_key": base64.b64encode(private).decode()}, public


def release_key(keys: dict, suite: dict):
    """The HPKE suite and private key for the manifest's ``suite``: X25519 alone, or
    ML-KEM-768 + X25519 (``hpke_mlkem_seed`` and ``hpke_private_key`` in the keys file)."""
    x25519 = X25519PrivateKey.from_private_bytes(base64.b64decode(keys["hpke_private_key"]))
    if suite.get("kem_id") == KEM_X25519:
        return SUITE, x25519
    if suite.get("kem_id") == KEM_HYBRID:
        if not keys.get("hpke_mlkem_seed"):
            raise ClientError("the release is for a hybrid key: hpke_mlkem_seed is missing")
        seed = base64.b64decode(keys["hpke_mlkem_seed"])
        return HYBRID_SUITE, hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(seed), x25519)
    raise ClientError(f"unknown HPKE KEM in the manifest: {suite.get('kem_id')}")


def pull(api: Api, keys: dict, out: Path, *, plan_id: int | None = None, new: bool = False,
         wait_seconds: float = 600, service_key_b64: str | None = None,
         log=print) -> dict:
    """Download, verify, decrypt and acknowledge one release. Returns a summary."""
    signing_key = Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(keys["signing_private_key"]))
    plan_id = _recipient_plan(api, plan_id)
    release = _choose_release(api, plan_id, new, wait_seconds)
    release_id = release["id"]
    base = f"/api/releases/{release_id}"
    published = api.json("GET", "/api/service-key")
    if service_key_b64 and service_key_b64 != published["public_key"]:
        raise ClientError("the service key differs from the one pinned with --service-key")
    body, signature = api.call("GET", f"{base}/manifest.json"), api.call(
        "GET", f"{base}/manifest.sig")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(published["public_key"])).verify(
            signature, body)
    except Exception as exc:
        raise ClientError("manifest signature does not verify: do not use this release") \
            from exc
    manifest = json.loads(body)
    if manifest.get("format") != FORMAT or manifest["release"]["id"] != release_id:
        raise ClientError("the manifest is not for this release")
    if keys.get("hpke_key_id") and manifest["recipient"]["key_id"] != keys["hpke_key_id"]:
        raise ClientError("the release is encrypted to another key than ours")
    suite, hpke_key = release_key(keys, manifest["suite"])
    out = out / release_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_bytes(body)
    (out / "manifest.sig").write_bytes(signature)
    tally = {"records": 0, "subjects": Counter(), "fields": Counter(),
             "certificate_balance_sum": 0}
    records_path = out / "records.ndjson"
    fd = os.open(records_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as sink:
        for number, chunk in enumerate(manifest["chunks"], start=1):
            data = api.call("GET", f"{base}/{chunk['file']}")
            if hashlib.sha256(data).hexdigest() != chunk["sha256"]:
                raise ClientError(f"{chunk['file']}: SHA-256 differs from the manifest")
            info = base64.b64decode(chunk["info"])
            expected = (f"release={release_id}", f"chunk={number:06d}",
                        f"key={manifest['recipient']['key_id']}")
            if not all(part.encode() in info for part in expected):
                raise ClientError(f"{chunk['file']}: info does not bind this chunk to us")
            plain = suite.decrypt(data, hpke_key, info=info)
            lines = [line for line in plain.split(b"\n") if line]
            if len(lines) != chunk["records"]:
                raise ClientError(f"{chunk['file']}: {len(lines)} records, manifest says "
                                  f"{chunk['records']}")
            for line in lines:
                record = json.loads(line)
                tally["records"] += 1
                tally["subjects"][record["kind"]] += 1
                tally["fields"].update(record["fields"].keys())
                tally["certificate_balance_sum"] += record["fields"].get(BALANCE_FIELD, 0)
                sink.write(line + b"\n")
    totals = {"records": tally["records"], "subjects": dict(tally["subjects"]),
              "fields": dict(tally["fields"]),
              "certificate_balance_sum": tally["certificate_balance_sum"]}
    counts_ok = (totals["records"] == manifest["counts"]["records"]
                 and totals["subjects"] == manifest["counts"]["subjects"]
                 and totals["fields"] == manifest["counts"]["fields"]
                 and totals["certificate_balance_sum"]
                 == manifest["control_totals"]["certificate_balance_sum"])
    payload = json.dumps({
        "release": release_id, "manifest_sha256": hashlib.sha256(body).hexdigest(),
        "nonce": secrets.token_urlsafe(24),
        "signed_at": dt.datetime.now(dt.UTC).isoformat(), "totals": totals},
        sort_keys=True).encode()
    answer = api.json("POST", f"{base}/acknowledgements", {
        "payload": base64.b64encode(payload).decode(),
        "signature": base64.b64encode(signing_key.sign(payload)).decode()}, expect=(201,))
    summary = {"release": release_id, "number": release["number"],
               "rehearsal": manifest.get("rehearsal", False), "records": totals["records"],
               "chunks": len(manifest["chunks"]), "counts_match_manifest": counts_ok,
               "acknowledged": answer["matches"], "mismatches": answer["mismatches"],
               "kem": manifest["suite"]["kem"],
               "out": str(records_path)}
    log(json.dumps(summary, ensure_ascii=False, indent=2))
    return summary


def deletions(api: Api, out: Path, *, plan_id: int | None, confirm: bool, log=print) -> list:
    plan_id = _recipient_plan(api, plan_id)
    feed = api.json("GET", f"/api/plans/{plan_id}/deletions")["deletions"]
    pending = [n for n in feed if n["confirmed_at"] is None]
    if not pending:
        log(f"no deletion owed for plan {plan_id}")
    for notice in pending:
        log(f"delete {notice['fields']} of {notice['kind']} {notice['external_id']} "
            f"({notice['reason']})")
    if confirm and pending:
        for path in out.glob("*/records.ndjson"):
            _delete_locally(path, pending)
        for notice in pending:
            api.call("POST", f"/api/deletions/{notice['id']}/confirm")
    return pending



def apply_report(api: Api, keys: dict, release_id: str, records, *, log=print) -> dict:
    """Sign and post, in one report, the records of ``release_id`` we could not apply
    (dicts of subject, reason and, for ``other``, text): each becomes a correction request
    to the source. The report binds the release's manifest as we hold it."""
    signing_key = Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(keys["signing_private_key"]))
    manifest_sha256 = api.json("GET", f"/api/releases/{release_id}")["manifest_sha256"]
    payload = json.dumps({
        "release": release_id, "manifest_sha256": manifest_sha256,
        "nonce": secrets.token_urlsafe(24), "signed_at": dt.datetime.now(dt.UTC).isoformat(),
        "records": list(records)}, sort_keys=True).encode()
    answer = api.json("POST", f"/api/releases/{release_id}/apply-reports", {
        "payload": base64.b64encode(payload).decode(),
        "signature": base64.b64encode(signing_key.sign(payload)).decode()}, expect=(201,))
    log(json.dumps(answer, ensure_ascii=False, indent=2))
    return answer


def _delete_locally(path: Path, notices: list[dict]) -> None:
    if not path.exists():
        return
    drop = {n["subject"]: set(n["fields"]) for n in notices}
    kept = []
    for line in path.read_bytes().splitlines():
        record = json.loads(line)
        for key in drop.get(record["subject"], ()):
            record["fields"].pop(key, None)
        kept.append(json.dumps(record, ensure_ascii=False).encode())
    path.write_bytes(b"".join(line + b"\n" for line in kept))
