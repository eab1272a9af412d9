"""Rehearsal stage: records the incoming operator could not apply, followed back corrected
(issue 18, part 4), all through the operator API as the operators' systems would.

1. Shinhan, having loaded the newest release, reports a few hundred merchants it could not
   apply (signed apply report), the reasons spread over the documented codes.
2. KEPF reads its correction requests, sends the corrected rows in a new upload (the same
   validation as any row) and completes it.
3. Shinhan pulls the next release: it carries every corrected merchant again, and the
   requests end `carried`.

Called by operations/rehearsal/story.py after the bulk release (``stage_corrections(ctx)``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from pathlib import Path

REASONS = ("qr_unknown", "qr_duplicate", "account_invalid", "phone_unreachable", "other")
PLANTED = 300


def _released_merchants(ctx, release_id: str) -> list[str]:
    """Public subject ids of the merchants in Shinhan's copy of ``release_id``."""
    path = Path(ctx.out) / "shinhan" / release_id / "records.ndjson"
    subjects = []
    with path.open("rb") as fh:
        for line in fh:
            record = json.loads(line)
            if record["kind"] == "merchant":
                subjects.append(record["subject"])
    return subjects


def _signed(key, body: dict) -> dict:
    payload = json.dumps(body, sort_keys=True).encode()
    return {"payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(key.sign(payload)).decode()}


def _corrections(api, plan_id: int, status: str) -> list[dict]:
    found, after = [], 0
    while True:
        page = api.json("GET", f"/api/plans/{plan_id}/corrections?status={status}"
                               f"&after={after}&limit=1000")
        found += page["corrections"]
        if page["next_after"] is None:
            return found
        after = page["next_after"]


def _corrected_row(external_id: str) -> dict:
    """KEPF's corrected row: the merchant's record, its settlement account re-entered."""
    from transfers.synthetic import merchant_row

    i = int(external_id.split("-")[1])
    return merchant_row(i) | {"merchant.settlement_bank_account": f"088-{i % 1000:03d}-"
                                                                  f"{(i + 1) % 10**6:06d}"}


def stage_corrections(ctx, planted: int = PLANTED) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from transfers.client import Api, pull

    plan_id = ctx.plan.pk
    with ctx.progress.stage("corrections", "10b. 적용 실패 보고 → 제공자 정정 → 재제공",
                            total=3) as st:
        latest = ctx.releases[-1]
        subjects = _released_merchants(ctx, latest["release"])[:planted]
        shinhan = Api(ctx.base_url, *ctx.shinhan_client)
        shinhan.authenticate()
        manifest_sha256 = shinhan.json("GET", f"/api/releases/{latest['release']}"
                                       )["manifest_sha256"]
        records = [{"subject": s, "reason": REASONS[i % len(REASONS)]} | (
            {"text": "가맹점 코드 체계 불일치"} if REASONS[i % len(REASONS)] == "other" else {})
            for i, s in enumerate(subjects)]
        key = Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(ctx.shinhan_keys["signing_private_key"]))
        report = shinhan.json("POST", f"/api/releases/{latest['release']}/apply-reports",
                              _signed(key, {
                                  "release": latest["release"],
                                  "manifest_sha256": manifest_sha256,
                                  "nonce": secrets.token_urlsafe(24),
                                  "signed_at": dt.datetime.now(dt.UTC).isoformat(),
                                  "records": records}), expect=(201,))
        st.advance()

        kepf = Api(ctx.base_url, *ctx.kepf_client, scope="upload")
        kepf.authenticate()
        asked = _corrections(kepf, plan_id, "open")
        upload = kepf.json("POST", f"/api/plans/{plan_id}/uploads", {}, expect=(201,))
        body = "".join(json.dumps(_corrected_row(c["external_id"]), ensure_ascii=False) + "\n"
                       for c in asked)
        batch = kepf.send("PUT", f"/api/uploads/{upload['id']}/batches/corrections-apply-1",
                          body.encode(), "application/x-ndjson; charset=utf-8")
        kepf.json("POST", f"/api/uploads/{upload['id']}/complete", {})
        st.advance()

        summary = pull(shinhan, ctx.shinhan_keys, Path(ctx.out) / "shinhan", plan_id=plan_id,
                       new=True, wait_seconds=3600, log=lambda *_: None)
        ctx.releases.append(summary)
        carried = _corrections(kepf, plan_id, "carried")
        still_open = _corrections(kepf, plan_id, "open")
        st.advance()
        st.note(f"{report['records']} not applied, {batch['corrected']} corrected, "
                f"{len(carried)} carried in release #{summary['number']}, "
                f"{len(still_open)} still open")
    ctx.facts["corrections"] = {
        "reported": report["records"], "reasons": report["reasons"],
        "corrected": batch["corrected"], "rejected": batch["rejected"],
        "carried": len(carried), "open": len(still_open), "release": summary["release"]}
