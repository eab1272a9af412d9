"""Where the parties differ: a declaring party's per-subject balance list, announced by a
signed manifest (its line count and the SHA-256 of its body), then sent as CSV
(``external_id,balance,fee``) and compared with the accepted records, subject by subject."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event
from governance.models import Operator, TransferPlan
from settlement.bulk import balance_lines_load, balance_list_compare
from settlement.models import BalanceList
from settlement.services.declarations import as_of_date, claimed_role
from settlement.services.signing import invalid, signed_payload, whole_number
from transfers.services.common import Conflict, TransferError

MANIFEST_KEYS = frozenset({"plan", "nonce", "signed_at", "role", "as_of", "lines", "sha256"})
MAX_LINES = 5_000_000
HEADER = b"external_id,balance,fee"
_LINE = re.compile(rb"([A-Za-z0-9._:-]{1,64}),([0-9]{1,18}),([0-9]{1,18})")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def balance_list_announce(*, plan: TransferPlan, operator: Operator, payload_b64: Any,
                          signature_b64: Any, by: tuple[str, str]) -> BalanceList:
    """Verify and store a party's signed manifest of the list it is about to send:
    ``{plan, nonce, signed_at, role, as_of, lines, sha256}`` (sha256: hex of the exact CSV
    body). Refused, nothing stored: as for declarations (wrong_role, invalid_list, stale_list,
    bad_signature, wrong_plan, replayed)."""
    signed = signed_payload(operator=operator, plan=plan, payload_b64=payload_b64,
                            signature_b64=signature_b64, keys=MANIFEST_KEYS, what="list")
    body = signed.body
    role = claimed_role(plan, operator, body["role"], "list")
    as_of = as_of_date(body["as_of"], "list")
    lines = whole_number(body["lines"], "lines", "list", maximum=MAX_LINES)
    if not isinstance(body["sha256"], str) or not _SHA256.fullmatch(body["sha256"]):
        raise invalid("list", "sha256: 64 lower-case hex digits")
    try:
        with transaction.atomic():
            balance_list = BalanceList.objects.create(
                plan=plan, operator=operator, role=role, as_of=as_of, line_count=lines,
                body_sha256=body["sha256"], key=signed.key, nonce=signed.nonce,
                payload=signed.payload, signature=signed.signature)
            _record(by, "settlement.balance_list_announced", balance_list,
                    {"lines": lines, "sha256": body["sha256"], "key_id": signed.key.key_id})
    except IntegrityError as exc:
        raise Conflict("this list was already announced (nonce reused)",
                       code="replayed") from exc
    return balance_list


def _record(by, action: str, balance_list: BalanceList, details: dict) -> None:
    audit_event(by=by, action=action, target=balance_list,
                details={"list": str(balance_list.public_id), "plan_id": balance_list.plan_id,
                         "role": balance_list.role, **details})


def balance_rows(body: bytes) -> list[tuple[str, int, int]]:
    """The (external_id, balance, fee) of a CSV body with its header; a refusal names the
    line (counted from 1 after the header), never its value."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines or lines[0].rstrip(b"\r") != HEADER:
        raise TransferError("the body must start with the header external_id,balance,fee",
                            code="invalid_body")
    rows, seen = [], set()
    for number, line in enumerate(lines[1:], start=1):
        found = _LINE.fullmatch(line.rstrip(b"\r"))
        if found is None:
            raise TransferError(f"line {number}: external_id (1-64 of [A-Za-z0-9._:-]), "
                                "balance and fee in whole won", code="invalid_body")
        external_id = found.group(1).decode()
        if external_id in seen:
            raise TransferError(f"line {number}: this external id was listed before",
                                code="duplicate_external_id")
        seen.add(external_id)
        rows.append((external_id, int(found.group(2)), int(found.group(3))))
    return rows


def balance_list_body_receive(*, balance_list: BalanceList, body: bytes,
                              by: tuple[str, str]) -> BalanceList:
    """Take the announced list's body, check it against the signed manifest (SHA-256 and line
    count: 400 body_mismatch), store its lines and compare them with the plan's accepted
    records (`settlement.bulk.balance_list_compare`), all or nothing. A list already
    received answers 409 already_received."""
    if balance_list.status != BalanceList.Status.AWAITING_BODY:
        raise Conflict("this list's body was already received", code="already_received")
    if hashlib.sha256(body).hexdigest() != balance_list.body_sha256:
        raise TransferError("the body's SHA-256 is not the one the signed manifest states",
                            code="body_mismatch")
    rows = balance_rows(body)
    if len(rows) != balance_list.line_count:
        raise TransferError(f"{len(rows)} lines, the signed manifest states "
                            f"{balance_list.line_count}", code="body_mismatch")
    with transaction.atomic():
        locked = BalanceList.objects.select_for_update().get(pk=balance_list.pk)
        if locked.status != BalanceList.Status.AWAITING_BODY:
            raise Conflict("this list's body was already received", code="already_received")
        balance_lines_load(locked.pk, rows)
        summary = balance_list_compare(locked.pk, locked.plan_id)
        locked.status, locked.summary = BalanceList.Status.COMPARED, summary
        locked.compared_at = timezone.now()
        locked.save(update_fields=["status", "summary", "compared_at"])
        _record(by, "settlement.balance_list_compared", locked, summary)
    return locked
