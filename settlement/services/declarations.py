"""Totals from every party: the source, its subcontractor, the city and the recipient each
declare counts per kind, the balance sum and the issuance-fee sum as of a date, signed."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event
from governance.models import Operator, TransferPlan
from settlement.models import PartyDeclaration, PartyRole
from settlement.services.parties import roles_of
from settlement.services.signing import invalid, signed_payload, whole_number
from transfers.services.common import Conflict, TransferError

DECLARATION_KEYS = frozenset({"plan", "nonce", "signed_at", "role", "as_of", "totals"})
TOTAL_KEYS = frozenset({"subjects", "certificate_balance_sum", "issuance_fee_sum"})
KINDS = ("merchant", "user")


def as_of_date(value: Any, what: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None or len(value) != 10:
        raise invalid(what, "as_of: a date, YYYY-MM-DD")
    if day > timezone.localdate() + dt.timedelta(days=1):
        raise invalid(what, "as_of is in the future")
    return day


def claimed_role(plan: TransferPlan, operator: Operator, role: Any, what: str) -> str:
    if role not in PartyRole.values:
        raise invalid(what, f"role: one of {', '.join(PartyRole.values)}")
    if role not in roles_of(plan, operator):
        raise TransferError(f"this operator is not the plan's {role}", code="wrong_role")
    return role


def _totals(value: Any) -> tuple[dict[str, int], int, int]:
    if not isinstance(value, dict) or set(value) != TOTAL_KEYS:
        raise invalid("declaration", "totals: exactly subjects, certificate_balance_sum, "
                                     "issuance_fee_sum")
    subjects = value["subjects"]
    if not isinstance(subjects, dict) or not set(subjects) <= set(KINDS):
        raise invalid("declaration", "totals.subjects: {merchant: n, user: n}")
    counts = {kind: whole_number(n, f"totals.subjects.{kind}", "declaration")
              for kind, n in sorted(subjects.items())}
    return (counts, whole_number(value["certificate_balance_sum"],
                                 "totals.certificate_balance_sum", "declaration"),
            whole_number(value["issuance_fee_sum"], "totals.issuance_fee_sum", "declaration"))


def declaration_receive(*, plan: TransferPlan, operator: Operator, payload_b64: Any,
                        signature_b64: Any, by: tuple[str, str]) -> PartyDeclaration:
    """Verify and store a party's signed totals for ``plan``.

    ``payload``: ``{plan, nonce, signed_at, role, as_of, totals: {subjects: {merchant, user},
    certificate_balance_sum, issuance_fee_sum}}`` signed with ``operator``'s registered
    Ed25519 key. Refused, nothing stored: a role the operator does not play on the plan (400
    wrong_role), a malformed payload (400 invalid_declaration), a bad signature, another
    plan, a stale signature, a nonce seen before (409 replayed)."""
    signed = signed_payload(operator=operator, plan=plan, payload_b64=payload_b64,
                            signature_b64=signature_b64, keys=DECLARATION_KEYS,
                            what="declaration")
    body = signed.body
    role = claimed_role(plan, operator, body["role"], "declaration")
    as_of = as_of_date(body["as_of"], "declaration")
    subjects, balance_sum, fee_sum = _totals(body["totals"])
    try:
        with transaction.atomic():
            declaration = PartyDeclaration.objects.create(
                plan=plan, operator=operator, role=role, as_of=as_of, subjects=subjects,
                balance_sum=balance_sum, fee_sum=fee_sum, key=signed.key, nonce=signed.nonce,
                payload=signed.payload, signature=signed.signature)
            audit_event(by=by, action="settlement.declared", target=declaration,
                        details={"plan_id": plan.pk, "role": role, "as_of": str(as_of),
                                 "subjects": subjects, "balance_sum": balance_sum,
                                 "fee_sum": fee_sum, "key_id": signed.key.key_id,
                                 "payload_sha256": hashlib.sha256(signed.payload).hexdigest()})
    except IntegrityError as exc:
        raise Conflict("this declaration was already received (nonce reused)",
                       code="replayed") from exc
    return declaration
