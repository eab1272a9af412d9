"""Reference client for the operators: the incoming operator pulls, verifies, decrypts and
acknowledges a release; the outgoing operator attests the notices it sent itself.

    python -m transfers.client --base-url http://127.0.0.1:8000 \\
        --credentials var/operator-clients/SHINHAN.json \\
        --keys var/demo-operator-keys/SHINHAN.json pull --out /tmp/release

It needs only the standard library and `cryptography` (no Django), so an operator can copy it.
Steps: get a client-credentials token; find the plan where we are the recipient; take the
newest release not yet acknowledged (or ask for a new one with --new and wait for it);
download manifest.json and manifest.sig and verify the signature with the service's published
key; download each chunk, check its SHA-256 and its ``info`` (this release, this chunk, our
key), decrypt it with HPKE, count what it holds; check the counts against the manifest; write
the plain records to ``<out>/<release id>/records.ndjson`` (mode 0600); sign our own
totals with our Ed25519 key and post them as the acknowledgement. Exit status 0 only if
every check passed and the service says our totals match.

    python -m transfers.client ... deletions [--confirm]

lists the deletion requests (withdrawals after release) and, with --confirm, confirms them
after removing those subjects' fields from every ``records.ndjson`` under --out.

    python -m transfers.client ... apply-report --release ID --file failed.ndjson

reports, signed, the records of a release we loaded but could not apply, one per line:
``{"subject": public id, "reason": "qr_unknown" | "qr_duplicate" | "account_invalid" |
"phone_unreachable" | "other", "text": "..." (with other)}``; the source receives each as a
correction request and the next release carries the corrected record.

For the outgoing operator, which told its users of the move itself (in its app, by post):

    python -m transfers.client --credentials var/operator-clients/KEPF.json \
        --keys var/demo-operator-keys/KEPF.json attest --file told.ndjson

reads one JSON object per line, ``{"external_id": ..., "channel": "in_app" | "post",
"notified_at": "2026-12-01T09:00:00+09:00"}``, signs each batch (up to --batch lines) with
our Ed25519 key (``signing_private_key`` in --keys) and posts it as a notice attestation;
each batch is accepted whole or refused whole. It prints the counts.

    python -m transfers.client ... refunds [--confirm refunded.ndjson]

lists the refund cases we owe (users who objected and asked for their balance back) as NDJSON
on stdout; with --confirm, reads one object per line, ``{"case": ..., "amount": won,
"refunded_at": "2026-12-01T09:00:00+09:00", "reference": "our own reference"}``, and signs and
posts each as the refund's confirmation (a different amount is refused). It prints the counts.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
# The post-quantum option: ML-KEM-768 + X25519 (X-Wing, HPKE KEM 0x647A), named in the
# manifest's `suite.kem_id`; the keys file then also holds `hpke_mlkem_seed` (64 bytes).
HYBRID_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256,
                          hpke.AEAD.AES_256_GCM)
KEM_X25519, KEM_HYBRID = 0x0020, 0x647A
FORMAT = "consent-broker-release/1"
BALANCE_FIELD = "user.certificate_balance"


class ClientError(Exception):
    pass


class Api:
    def __init__(self, base_url: str, client_id: str, client_secret: str,
                 scope: str = "release:read release:ack"):
        self.base_url = base_url.rstrip("/")
        self.client_id, self.client_secret, self.scope = client_id, client_secret, scope
        self.token = ""
        self.token_expires = 0.0  # time.monotonic() after which we ask for a new token

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None) -> tuple[int, bytes]:
        url = self.base_url + path
        if not url.startswith(("http://", "https://")):
            raise ClientError(f"not an http(s) URL: {url}")
        request = urllib.request.Request(url, data=body, method=method,  # noqa: S310
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def authenticate(self) -> None:
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        body = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "scope": self.scope}).encode()
        status, data = self._request("POST", "/o/token/", body, {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise ClientError(f"token request refused ({status}): {data[:200]!r}")
        answer = json.loads(data)
        self.token = answer["access_token"]
        # Tokens are short-lived (10 minutes by default); a long upload or a wait for a bulk
        # export outlives several. Renew a minute early: a request refused half-way through
        # a large body ends in a broken pipe, not in a clean 401.
        self.token_expires = time.monotonic() + max(30, int(answer.get("expires_in", 600)) - 60)

    def bearer(self) -> dict[str, str]:
        """The Authorization header, with a token renewed first if it is about to expire."""
        if not self.token or time.monotonic() >= self.token_expires:
            self.authenticate()
        return {"Authorization": f"Bearer {self.token}"}

    def send(self, method: str, path: str, body: bytes, content_type: str,
             expect=(200, 201)) -> Any:
        """Send a raw body (an upload batch: NDJSON or CSV) and return the JSON answer."""
        status, data = self._request(method, path, body, {**self.bearer(),
                                                          "Content-Type": content_type})
        if status not in expect:
            raise ClientError(f"{method} {path} answered {status}: {data[:300]!r}")
        return json.loads(data)

    def call(self, method: str, path: str, payload: Any = None, expect=(200,)) -> bytes:
        headers = self.bearer()
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        status, data = self._request(method, path, body, headers)
        if status not in expect:
            raise ClientError(f"{method} {path} answered {status}: {data[:300]!r}")
        return data

    def json(self, method: str, path: str, payload: Any = None, expect=(200,)) -> Any:
        return json.loads(self.call(method, path, payload, expect))


def load_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


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


ATTEST_BATCH = 500  # lines per signed attestation: the service takes at most 10,000, and
# records each as its own piece of evidence (about ten queries a line), so a batch of 500
# answers well within the client's 60-second timeout


def _source_plan(api: Api, plan_id: int | None) -> int:
    if plan_id is not None:
        return plan_id
    plans = [p for p in api.json("GET", "/api/plans")["plans"] if p["role"] == "source"]
    if len(plans) != 1:
        raise ClientError(f"{len(plans)} plans name us as source: pass --plan")
    return plans[0]["id"]


def read_ndjson(path: Path):
    """The objects of an NDJSON file, one per non-blank line."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise ClientError(f"{path}:{number}: not a JSON object") from exc


def attest(api: Api, keys: dict, attestations, *, plan_id: int | None = None,
           batch_size: int = ATTEST_BATCH, log=print) -> dict:
    """Sign and post ``attestations`` (dicts of external_id, channel, notified_at) in
    batches. Stops at the first batch refused (those before it stay accepted)."""
    if not 1 <= batch_size <= 10_000:
        raise ClientError("--batch: 1 to 10,000 lines")
    signing_key = Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(keys["signing_private_key"]))
    plan_id = _source_plan(api, plan_id)
    summary = {"plan": plan_id, "batches": 0, "lines": 0, "subjects": 0, "channels": Counter()}
    batch: list[dict] = []

    def post() -> None:
        payload = json.dumps({
            "plan": plan_id, "nonce": secrets.token_urlsafe(24),
            "signed_at": dt.datetime.now(dt.UTC).isoformat(), "attestations": batch},
            sort_keys=True).encode()
        answer = api.json("POST", f"/api/plans/{plan_id}/notice-attestations", {
            "payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(signing_key.sign(payload)).decode()},
            expect=(201,))
        summary["batches"] += 1
        summary["lines"] += answer["lines"]
        summary["subjects"] += answer["subjects"]
        summary["channels"].update(answer["channels"])
        batch.clear()

    for line in attestations:
        batch.append(line)
        if len(batch) == batch_size:
            post()
    if batch:
        post()
    summary["channels"] = dict(summary["channels"])
    log(json.dumps(summary, ensure_ascii=False, indent=2))
    return summary


def refunds(api: Api, keys: dict | None, confirmations=None, *, plan_id: int | None = None,
            log=print) -> dict:
    """List our open refund cases (NDJSON on ``log``), or sign and post ``confirmations``
    (dicts of case, amount, refunded_at, reference), one signed confirmation each. Stops at
    the first refused (those before it stay confirmed)."""
    plan_id = _source_plan(api, plan_id)
    if confirmations is None:
        after, listed = 0, 0
        while after is not None:
            page = api.json("GET", f"/api/plans/{plan_id}/refunds?status=requested"
                                   f"&after={after}")
            for case in page["refunds"]:
                log(json.dumps(case, ensure_ascii=False))
                listed += 1
            after = page["next_after"]
        return {"plan": plan_id, "open": listed}
    signing_key = Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(keys["signing_private_key"]))
    summary = {"plan": plan_id, "confirmed": 0, "won": 0}
    for line in confirmations:
        payload = json.dumps({
            "plan": plan_id, "case": line["case"], "amount": line["amount"],
            "refunded_at": line["refunded_at"], "reference": line["reference"],
            "nonce": secrets.token_urlsafe(24),
            "signed_at": dt.datetime.now(dt.UTC).isoformat()}, sort_keys=True).encode()
        answer = api.json("POST", f"/api/plans/{plan_id}/refunds/{line['case']}/confirmation",
                          {"payload": base64.b64encode(payload).decode(),
                           "signature": base64.b64encode(signing_key.sign(payload)).decode()})
        summary["confirmed"] += 1
        summary["won"] += answer["amount"]
    log(json.dumps(summary, ensure_ascii=False, indent=2))
    return summary


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transfers.client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=None,
                        help="service address (default: base_url in the credentials file)")
    parser.add_argument("--credentials", required=True,
                        help="JSON with client_id and client_secret")
    parser.add_argument("--keys", required=True,
                        help="JSON with hpke_private_key and signing_private_key (base64; "
                             "attest needs only signing_private_key)")
    parser.add_argument("--plan", type=int, default=None)
    parser.add_argument("--out", default="release-out")
    commands = parser.add_subparsers(dest="command", required=True)
    pull_cmd = commands.add_parser("pull", help="pull, verify, decrypt and acknowledge")
    pull_cmd.add_argument("--new", action="store_true",
                          help="ask for a new (incremental) release instead of the newest "
                               "unacknowledged one")
    pull_cmd.add_argument("--service-key", default=None,
                          help="pin the service's Ed25519 public key (base64)")
    pull_cmd.add_argument("--wait", type=float, default=600)
    deletions_cmd = commands.add_parser("deletions", help="list (and confirm) deletions")
    deletions_cmd.add_argument("--confirm", action="store_true")
    attest_cmd = commands.add_parser("attest", help="sign and post notice attestations "
                                     "(the outgoing operator's own notices)")
    attest_cmd.add_argument("--file", required=True,
                            help="NDJSON: external_id, channel (in_app|post), notified_at")
    attest_cmd.add_argument("--batch", type=int, default=ATTEST_BATCH,
                            help=f"lines per signed attestation (default {ATTEST_BATCH})")
    refunds_cmd = commands.add_parser("refunds", help="list the refunds we owe (and confirm "
                                      "them, signed)")
    refunds_cmd.add_argument("--confirm", metavar="FILE", default=None,
                             help="NDJSON: case, amount, refunded_at, reference")
    report_cmd = commands.add_parser("apply-report", help="report, signed, the records of a "
                                     "release we could not apply (the source corrects them)")
    report_cmd.add_argument("--release", required=True, help="the release's id")
    report_cmd.add_argument("--file", required=True, help="NDJSON: subject (its public id), "
                            "reason (qr_unknown | qr_duplicate | account_invalid | "
                            "phone_unreachable | other), text (with other)")
    args = parser.parse_args(argv)
    credentials = load_json(args.credentials)
    scope = ("upload" if args.command in ("attest", "refunds")
             else "release:read release:ack")
    api = Api(args.base_url or credentials.get("base_url", "http://127.0.0.1:8000"),
              credentials["client_id"], credentials["client_secret"], scope=scope)
    try:
        api.authenticate()
        if args.command == "attest":
            attest(api, load_json(args.keys), read_ndjson(Path(args.file)),
                   plan_id=args.plan, batch_size=args.batch)
            return 0
        if args.command == "refunds":
            refunds(api, load_json(args.keys) if args.confirm else None,
                    read_ndjson(Path(args.confirm)) if args.confirm else None, plan_id=args.plan)
            return 0
        if args.command == "apply-report":
            apply_report(api, load_json(args.keys), args.release, read_ndjson(Path(args.file)))
            return 0
        if args.command == "pull":
            summary = pull(api, load_json(args.keys), Path(args.out), plan_id=args.plan,
                           new=args.new, wait_seconds=args.wait,
                           service_key_b64=args.service_key)
            return 0 if summary["counts_match_manifest"] and summary["acknowledged"] else 1
        deletions(api, Path(args.out), plan_id=args.plan, confirm=args.confirm)
        return 0
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
