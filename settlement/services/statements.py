"""The settlement statement: made once the plan's disposition is clean, co-signed by each
declaring party with its registered key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event
from governance.models import Operator, TransferPlan
from settlement.disposition import plan_disposition
from settlement.models import BalanceList, SettlementStatement, StatementSignature
from settlement.selectors import declarations_side_by_side
from settlement.services.declarations import claimed_role
from settlement.services.signing import signed_payload
from transfers.services.common import Conflict, TransferError

SIGNATURE_KEYS = frozenset({"plan", "statement", "sha256", "nonce", "signed_at", "role"})


def statement_content(plan: TransferPlan) -> dict[str, Any]:
    """What the statement says: the disposition of every won, the releases against their
    acknowledgements, each party's declared figures and the per-subject lists' comparison."""
    d = plan_disposition(plan)
    if not d.clean:
        raise Conflict("the disposition is not clean: " + "; ".join(d.problems),
                       code="not_clean")
    parties = declarations_side_by_side(plan)
    return {
        "format": "consent-broker-settlement/1",
        "plan": {"id": plan.pk, "lineage": str(plan.lineage), "version": plan.version,
                 "title": plan.title, "from": plan.from_operator.code,
                 "to": plan.to_operator.code, "rehearsal": plan.rehearsal},
        "as_of": d.as_of.isoformat(),
        "balance": d.balance_json(),
        "releases": [{"release": r.release, "number": r.number, "state": r.state,
                      "released": {"count": r.released.count, "won": r.released.won},
                      "acknowledged": None if r.acknowledged is None else {
                          "count": r.acknowledged.count, "won": r.acknowledged.won}}
                     for r in d.releases],
        "parties": [{"role": p["role"], "operator": p["operator"],
                     "as_of": p["as_of"].isoformat(), "key_id": p["key_id"]}
                    for p in parties["parties"]],
        "figures": parties["rows"],
        "balance_lists": [{"list": str(b.public_id), "role": b.role, "summary": b.summary}
                          for b in BalanceList.objects.filter(
                              plan=plan, status=BalanceList.Status.COMPARED).order_by("id")],
    }


def statement_create(*, plan: TransferPlan, by: tuple[str, str]) -> SettlementStatement:
    """Make the plan's statement (409 not_clean unless every won is accounted for)."""
    content = json.dumps(statement_content(plan), sort_keys=True, ensure_ascii=False,
                         separators=(",", ":")).encode()
    with transaction.atomic():
        statement = SettlementStatement.objects.create(
            plan=plan, content=content, sha256=hashlib.sha256(content).hexdigest(),
            created_by=by[1])
        audit_event(by=by, action="settlement.statement_created", target=statement,
                    details={"plan_id": plan.pk, "sha256": statement.sha256})
    return statement


def statement_sign(*, statement: SettlementStatement, operator: Operator, payload_b64: Any,
                   signature_b64: Any, by: tuple[str, str]) -> StatementSignature:
    """A party's co-signature: ``{plan, statement, sha256, nonce, signed_at, role}`` signed
    with its registered Ed25519 key. Refused, nothing stored: another statement or content
    (400 wrong_statement), a role it does not play (400 wrong_role), a bad or stale
    signature, a role that already signed (409 already_signed), a nonce seen before (409
    replayed)."""
    plan = statement.plan
    signed = signed_payload(operator=operator, plan=plan, payload_b64=payload_b64,
                            signature_b64=signature_b64, keys=SIGNATURE_KEYS,
                            what="signature")
    body = signed.body
    if body["statement"] != str(statement.public_id) or body["sha256"] != statement.sha256:
        raise TransferError("the signature is for another statement or content",
                            code="wrong_statement")
    role = claimed_role(plan, operator, body["role"], "signature")
    if StatementSignature.objects.filter(nonce=signed.nonce).exists():
        raise Conflict("this signature was already received (nonce reused)", code="replayed")
    try:
        with transaction.atomic():
            signature = StatementSignature.objects.create(
                statement=statement, operator=operator, role=role, key=signed.key,
                nonce=signed.nonce, payload=signed.payload, signature=signed.signature,
                signed_at=signed.signed_at, received_at=timezone.now())
            audit_event(by=by, action="settlement.statement_signed", target=statement,
                        details={"plan_id": plan.pk, "role": role, "key_id": signed.key.key_id,
                                 "sha256": statement.sha256})
    except IntegrityError as exc:
        raise Conflict(f"the {role} has already signed this statement",
                       code="already_signed") from exc
    return signature
