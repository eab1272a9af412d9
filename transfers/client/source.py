"""The outgoing operator: attest, signed, the notices it sent itself; list and confirm,
signed, the refunds it owes."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections import Counter

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .api import Api, ClientError

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
