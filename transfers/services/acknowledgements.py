"""The recipient's signed acknowledgement of a release, compared with what was released."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.models import OperatorKey
from governance.selectors import operator_current_key
from transfers.models import Acknowledgement, Release
from transfers.services.common import Conflict, TransferError, record
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


def _decode(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise TransferError(f"{what} must be base64 text", code="invalid_acknowledgement")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TransferError(f"{what} is not valid base64", code="invalid_acknowledgement") \
            from exc


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
    payload, signature = _decode(payload_b64, "payload"), _decode(signature_b64, "signature")
    key = operator_current_key(release.recipient, OperatorKey.Purpose.SIGNATURE)
    if key is None:
        raise Conflict("the recipient has no registered signing key", code="no_key")
    try:
        Ed25519PublicKey.from_public_bytes(bytes(key.public_key)).verify(signature, payload)
    except InvalidSignature as exc:
        raise TransferError("the signature does not verify with the recipient's registered "
                            "signing key", code="bad_signature") from exc
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
            record(by, "release.acknowledged", "transfers.release", release.pk,
                   {"release": str(release.public_id), "acknowledgement": ack.pk,
                    "matches": not mismatches, "mismatches": len(mismatches),
                    "key_id": key.key_id})
    except IntegrityError as exc:
        raise Conflict("this acknowledgement was already received (nonce reused)",
                       code="replayed") from exc
    return ack
