"""The recipient's signed acknowledgement of a release, compared with what was released."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event
from transfers.models import Acknowledgement, Release
from transfers.services.common import Conflict, TransferError
from transfers.services.signing import signed_bytes
from transfers.validation import MAX_INTEGER, MAX_JSON_DEPTH, json_depth

NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A subject kind or a field key, as the manifest names them ("user", "merchant.shop_name").
TOTAL_NAME = re.compile(r"[a-z][a-z0-9_.]{0,63}")
TOTAL_KEYS = ("records", "subjects", "fields", "certificate_balance_sum")


def ack_window() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "TRANSFERS_ACK_MAX_AGE_SECONDS", 900)))


def released_totals(release: Release) -> dict[str, Any]:
    """The figures an acknowledgement must match, from the signed manifest."""
    manifest = json.loads(bytes(release.manifest))
    return {"records": manifest["counts"]["records"],
            "subjects": manifest["counts"]["subjects"],
            "fields": manifest["counts"]["fields"],
            "certificate_balance_sum": manifest["control_totals"]["certificate_balance_sum"]}


def totals_mismatches(expected: dict[str, Any], got: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key in TOTAL_KEYS:
        a, b = expected.get(key), got.get(key)
        if isinstance(a, dict) or isinstance(b, dict):
            a, b = a or {}, b or {}
            for sub in sorted(set(a) | set(b)):
                if a.get(sub, 0) != b.get(sub, 0):
                    out.append({"metric": f"{key}.{sub}", "released": a.get(sub, 0),
                                "acknowledged": b.get(sub, 0)})
        elif a != b:
            out.append({"metric": key, "released": a, "acknowledged": b})
    return out


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INTEGER


def _totals_checked(totals: Any) -> dict[str, Any]:
    """The recipient's totals, refused unless each is a bounded whole number, per kind or
    field name where the manifest counts by name: they are stored, and a NUL or a lone
    surrogate in a name would fail in the database instead of here."""
    problem = "totals: {records, subjects: {kind: n}, fields: {key: n}, certificate_balance_sum}"
    if not isinstance(totals, dict) or set(totals) - set(TOTAL_KEYS):
        raise TransferError(problem, code="invalid_acknowledgement")
    for key in ("records", "certificate_balance_sum"):
        if key in totals and not _count(totals[key]):
            raise TransferError(f"totals.{key} must be a whole number from 0 to {MAX_INTEGER}",
                                code="invalid_acknowledgement")
    for key in ("subjects", "fields"):
        named = totals.get(key, {})
        if not isinstance(named, dict) or not all(
                TOTAL_NAME.fullmatch(name) and _count(n) for name, n in named.items()):
            raise TransferError(f"totals.{key}: names like the manifest's, each a whole "
                                f"number from 0 to {MAX_INTEGER}", code="invalid_acknowledgement")
    return totals


def acknowledgement_receive(*, release: Release, payload_b64: Any, signature_b64: Any,
                            by: tuple[str, str]) -> Acknowledgement:
    """Verify and store the recipient's acknowledgement.

    ``payload`` is the exact JSON bytes the recipient signed with its registered Ed25519 key:
    ``{"release", "manifest_sha256", "nonce", "signed_at", "totals"}``. A bad signature, a
    payload for another release or manifest, a stale ``signed_at`` or a reused nonce (replay)
    is refused and nothing is stored.
    """
    if release.status != Release.Status.READY:
        raise Conflict("the release is not ready yet", code="release_not_ready")
    key, payload, signature = signed_bytes(
        operator=release.recipient, payload_b64=payload_b64, signature_b64=signature_b64,
        what="acknowledgement", party="recipient")
    try:
        # orjson, like every other body: no NaN, a depth limit, no lone surrogates.
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise TransferError("payload is not JSON", code="invalid_acknowledgement") from exc
    if json_depth(body) > MAX_JSON_DEPTH:
        raise TransferError(f"payload nests deeper than {MAX_JSON_DEPTH} levels",
                            code="invalid_acknowledgement")
    if not isinstance(body, dict):
        raise TransferError("payload must be a JSON object", code="invalid_acknowledgement")
    if body.get("release") != str(release.public_id) or (
            body.get("manifest_sha256") != release.manifest_sha256):
        raise TransferError("the acknowledgement is for another release or manifest",
                            code="wrong_release")
    nonce = body.get("nonce")
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise TransferError("nonce: 16-64 characters of [A-Za-z0-9_-]",
                            code="invalid_acknowledgement")
    try:
        signed_at = dt.datetime.fromisoformat(str(body.get("signed_at")).replace("Z", "+00:00"))
    except ValueError as exc:
        raise TransferError("signed_at must be an ISO 8601 time",
                            code="invalid_acknowledgement") from exc
    if signed_at.tzinfo is None or abs(timezone.now() - signed_at) > ack_window():
        raise TransferError("signed_at is too far from now: sign a fresh acknowledgement",
                            code="stale_acknowledgement")
    totals = _totals_checked(body.get("totals"))
    mismatches = totals_mismatches(released_totals(release), totals)
    try:
        with transaction.atomic():
            ack = Acknowledgement.objects.create(
                release=release, key=key, nonce=nonce, payload=payload, signature=signature,
                totals={k: totals.get(k) for k in TOTAL_KEYS}, matches=not mismatches,
                mismatches=mismatches)
            audit_event(by=by, action="release.acknowledged", target=release,
                        details={"release": str(release.public_id), "acknowledgement": ack.pk,
                                 "matches": not mismatches, "mismatches": len(mismatches),
                                 "key_id": key.key_id})
    except IntegrityError as exc:
        raise Conflict("this acknowledgement was already received (nonce reused)",
                       code="replayed") from exc
    return ack
