"""The rehearsal's money: refunds instead of moving, every party's totals, the subcontractor's
per-subject list that disagrees with the source on a few hundred users, and the disposition
of every won of the accepted balance (settlement).

Stages, each taking the rehearsal `Context` (operations.rehearsal.context), to be called by the
story in this order:

- ``subcontractor_ensure()`` before the plan is created: pass its result as
  ``plan_create(..., subcontractor=...)`` so the plan names KEPF's subcontractor;
- ``stage_refunds(ctx)`` after ``stage_users`` (objectors exist), before release 1: half of
  the objectors ask for a refund on their own page; KEPF lists its cases and confirms half of
  them, signed, with the reference client;
- ``stage_party_totals(ctx)`` after the last release: KEPF, its subcontractor, the city (by
  an officer, signed with the city's key) and Shinhan declare their totals; the subcontractor
  sends its per-subject list over the API, with planted disagreements;
- ``stage_disposition(ctx)`` after that: where every won is;
- ``stage_statement(ctx)`` last before the report: the statement, co-signed by every party
  (it refuses, `Conflict` not_clean, if any won is unaccounted).

Everything they found is in ``ctx.facts["money"]`` (plain values); the report shows it with
``{% include "settlement/_rehearsal_money.html" with money=facts.money %}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets

from django.utils import timezone

SUBCONTRACTOR = "KEPFSUB"
# Of the users the subcontractor lists: how many it states another balance for, how many it
# lacks, and how many only it has (the Seoul 2022 disagreement, in small).
PLANTED_DIFFERING, PLANTED_MISSING, PLANTED_EXTRA = 200, 10, 10
REFUND_SHARE = 0.5  # of the objectors who reached their page: ask for a refund
FEE_RATE = 100      # the issuance fee the parties declare: 1% of the balance


def subcontractor_ensure():
    """KEPF's subcontractor (재수탁 정산사), registered with its own keys (demo key files)."""
    from governance.demo import _ensure_keys
    from governance.models import Operator

    operator, _ = Operator.objects.get_or_create(code=SUBCONTRACTOR, defaults={
        "name": "KEPF 재수탁 정산사 (리허설)", "name_en": "KEPF's settlement subcontractor",
        "role": Operator.Role.PROCESSOR})
    _ensure_keys(operator)
    return operator


def _keys(code: str) -> dict:
    from governance.demo import demo_keys_dir

    return json.loads((demo_keys_dir() / f"{code}.json").read_text())


def _signed(code: str, body: dict) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(_keys(code)["signing_private_key"]))
    payload = json.dumps(body, sort_keys=True).encode()
    return {"payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(key.sign(payload)).decode()}


def _money(ctx) -> dict:
    return ctx.facts.setdefault("money", {})


# --- Refunds --------------------------------------------------------------------------------


def _user_asks_refund(ctx, i: int) -> bool:
    from governance.seoul import synthetic_phone
    from operations.rehearsal.people import Visitor

    link = ctx.links.get(f"U-{i:07d}")
    if link is None:
        return False
    visitor = Visitor(link, ctx.base_url, person=ctx.options.merchants + i)
    visitor.verify(synthetic_phone(i)[-4:])
    # The status page links the refund page once the user has objected: open it directly.
    visitor._take(visitor.session.get(visitor.url + "/refund", timeout=30))
    visitor.submit(visitor.only_form())
    return "환불을 요청하셨습니다" in visitor.page


def stage_refunds(ctx) -> None:
    from transfers.client import Api, refunds

    objectors = sorted(ctx.cast.objecting_users)
    asking = objectors[:int(len(objectors) * REFUND_SHARE + 0.5)]
    with ctx.progress.stage("refunds", "6b. 이전 거부자의 잔액 환불 요청·확인",
                            total=len(asking) + 1) as st:
        asked = 0
        for i in asking:
            asked += _user_asks_refund(ctx, i)
            st.advance()
        api = Api(ctx.base_url, *ctx.kepf_client, scope="upload")
        api.authenticate()
        listed: list[dict] = []
        refunds(api, None, plan_id=ctx.plan.pk,
                log=lambda line: listed.append(json.loads(line)))
        confirming = listed[:len(listed) // 2 + len(listed) % 2]
        now = timezone.now().isoformat()
        summary = refunds(api, _keys("KEPF"), (
            {"case": c["id"], "amount": c["amount"], "refunded_at": now,
             "reference": f"KEPF-RF-{n:05d}"} for n, c in enumerate(confirming)),
            plan_id=ctx.plan.pk, log=lambda *_: None)
        st.advance()
        st.note(f"{asked} asked, {summary['confirmed']} refunded ({summary['won']:,} won)")
    _money(ctx)["refunds"] = {"asked": asked, "listed": len(listed),
                              "confirmed": summary["confirmed"], "confirmed_won": summary["won"]}


# --- Every party's totals and the subcontractor's list ------------------------------------


def _accepted_users(plan) -> list[tuple[str, int]]:
    from transfers.models import Record

    return list(Record.objects.filter(plan_id=plan.pk, kind="user").order_by("subject_id")
                .values_list("subject__external_id", "certificate_balance"))


def _subcontractor_lines(accepted: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """The subcontractor's own ledger: the source's users with a planted disagreement on a
    few hundred of them (a balance 1,000 won higher; at most half of the users), a few missing
    (at most a tenth), a few only it has."""
    rng = random.Random(16)
    missing = min(PLANTED_MISSING, len(accepted) // 10)
    users = accepted[missing:]  # the first few are missing from its ledger
    differing = set(rng.sample(range(len(users)), min(PLANTED_DIFFERING, len(users) // 2)))
    lines = [(ext, (balance or 0) + (1_000 if n in differing else 0), (balance or 0) // FEE_RATE)
             for n, (ext, balance) in enumerate(users)]
    lines += [(f"U-SUB-{j:05d}", 10_000, 100) for j in range(PLANTED_EXTRA)]
    return lines


def _declaration(plan, role: str, users: int, merchants: int, balance: int, fee: int) -> dict:
    return {"plan": plan.pk, "nonce": secrets.token_urlsafe(16),
            "signed_at": timezone.now().isoformat(), "role": role,
            "as_of": timezone.localdate().isoformat(),
            "totals": {"subjects": {"merchant": merchants, "user": users},
                       "certificate_balance_sum": balance, "issuance_fee_sum": fee}}


def stage_party_totals(ctx) -> None:
    from audit.services import officer_actor
    from governance.demo import _ensure_keys
    from governance.models import Operator
    from settlement.disposition import plan_disposition
    from settlement.selectors import declarations_side_by_side
    from settlement.services import declaration_receive
    from transfers.client import Api
    from transfers.models import UploadBatch
    from transfers.services.clients import operator_client_create

    plan = ctx.plan
    with ctx.progress.stage("totals", "11a. 기관별 합계와 재수탁사 잔액 목록", total=5) as st:
        accepted = _accepted_users(plan)
        merchants = sum((k or {}).get("merchant", 0) for k in UploadBatch.objects.filter(
            upload__plan=plan).values_list("kind_counts", flat=True))
        balance = sum(b or 0 for _e, b in accepted)
        fee = sum((b or 0) // FEE_RATE for _e, b in accepted)
        sub_lines = _subcontractor_lines(accepted)
        moved = plan_disposition(plan).moved
        figures = {
            "source": (len(accepted), balance, fee),
            "subcontractor": (len(sub_lines), sum(b for _e, b, _f in sub_lines),
                              sum(f for _e, _b, f in sub_lines)),
            "recipient": (moved.count, moved.won, moved.won // FEE_RATE)}
        sub = Operator.objects.get(code=SUBCONTRACTOR)
        sub_client = operator_client_create(operator=sub, by=("system", "system:rehearsal"))
        apis = {"source": (Api(ctx.base_url, *ctx.kepf_client, scope="upload"), "KEPF"),
                "subcontractor": (Api(ctx.base_url, sub_client.client_id,
                                      sub_client.client_secret, scope="upload"), SUBCONTRACTOR),
                "recipient": (Api(ctx.base_url, *ctx.shinhan_client, scope="release:ack"),
                              "SHINHAN")}
        for role, (api, code) in apis.items():
            api.authenticate()
            users, won, fees = figures[role]
            api.json("POST", f"/api/plans/{plan.pk}/declarations", _signed(code, _declaration(
                plan, role, users, merchants, won, fees)), expect=(201,))
            st.advance()
        # The city uses the admin: its signed ledger totals, entered by an officer.
        city = Operator.objects.get(code="SEOUL")
        _ensure_keys(city)
        body = _signed("SEOUL", _declaration(plan, "city", len(accepted), merchants, balance,
                                             fee))
        declaration_receive(plan=plan, operator=city, payload_b64=body["payload"],
                            signature_b64=body["signature"], by=officer_actor(ctx.officer))
        st.advance()
        csv_body = ("external_id,balance,fee\n" + "".join(
            f"{e},{b},{f}\n" for e, b, f in sub_lines)).encode()
        api = apis["subcontractor"][0]
        announced = api.json("POST", f"/api/plans/{plan.pk}/balance-lists", _signed(
            SUBCONTRACTOR, {"plan": plan.pk, "nonce": secrets.token_urlsafe(16),
                            "signed_at": timezone.now().isoformat(), "role": "subcontractor",
                            "as_of": timezone.localdate().isoformat(), "lines": len(sub_lines),
                            "sha256": hashlib.sha256(csv_body).hexdigest()}), expect=(201,))
        compared = api.send("PUT", f"/api/plans/{plan.pk}/balance-lists/"
                                   f"{announced['id']}/body", csv_body, "text/csv",
                            expect=(200,))
        differences = _all_differences(api, plan.pk, announced["id"])
        st.advance()
        st.note(f"subcontractor differs on {compared['summary']['differing']} users, "
                f"{compared['summary']['only_accepted']} only at the source, "
                f"{compared['summary']['only_listed']} only in its list")
    report = declarations_side_by_side(plan)
    _money(ctx)["declarations"] = {
        "agree": report["agree"], "parties": [p["role"] for p in report["parties"]],
        "rows": [{"metric": r["metric"], "accepted": r["accepted"], "values": r["values"],
                  "differences": r["differences"]} for r in report["rows"]]}
    _money(ctx)["subcontractor_list"] = {"status": compared["status"],
                                         "summary": compared["summary"],
                                         "differences": differences}


def _all_differences(api, plan_id: int, list_id: str) -> list[dict]:
    found, after = [], 0
    while after is not None:
        page = api.json("GET", f"/api/plans/{plan_id}/balance-lists/{list_id}/differences"
                               f"?after={after}&limit=1000")
        found += page["differences"]
        after = page["next_after"]
    return found


# --- Where every won is -------------------------------------------------------------------


def stage_disposition(ctx) -> None:
    from settlement.disposition import held_label, plan_disposition

    with ctx.progress.stage("disposition", "11b. 잔액 처리 내역 (every won)", total=1) as st:
        d = plan_disposition(ctx.plan)
        st.advance()
        st.note(f"accepted {d.accepted.won:,} won: moved {d.moved.won:,}, refunded "
                f"{d.refunded.won:,}, refund requested {d.refund_requested.won:,}, held "
                f"{d.held_total.won:,}, unaccounted {d.unaccounted.won:,}")
    _money(ctx)["disposition"] = {
        "clean": d.clean, "problems": d.problems, "balance": d.balance_json(),
        "held_labels": {reason: held_label(reason) for reason in d.held},
        "releases": [{"number": r.number, "state": r.state, "released": r.released.won,
                      "acknowledged": None if r.acknowledged is None else r.acknowledged.won}
                     for r in d.releases],
        "as_of": d.as_of.isoformat()}


# --- The settlement statement, co-signed ----------------------------------------------------


def stage_statement(ctx) -> None:
    """Once every won is accounted for: the officer makes the statement; KEPF, its
    subcontractor and Shinhan co-sign it through the API, the city through the officer."""
    from audit.services import officer_actor
    from governance.models import Operator
    from settlement.services import statement_create, statement_sign
    from transfers.client import Api
    from transfers.services.clients import operator_client_create

    plan = ctx.plan
    with ctx.progress.stage("statement", "11c. 정산 명세서 공동 서명", total=4) as st:
        statement = statement_create(plan=plan, by=officer_actor(ctx.officer))
        sub = Operator.objects.get(code=SUBCONTRACTOR)
        sub_client = operator_client_create(operator=sub, by=("system", "system:rehearsal"))
        parties = (("source", "KEPF", ctx.kepf_client, "upload"),
                   ("subcontractor", SUBCONTRACTOR,
                    (sub_client.client_id, sub_client.client_secret), "upload"),
                   ("recipient", "SHINHAN", ctx.shinhan_client, "release:ack"))
        for role, code, client, scope in parties:
            api = Api(ctx.base_url, *client, scope=scope)
            api.authenticate()
            shown = api.json("GET", f"/api/plans/{plan.pk}/statement")
            api.json("POST", f"/api/plans/{plan.pk}/statement/signatures", _signed(code, {
                "plan": plan.pk, "statement": shown["id"], "sha256": shown["sha256"],
                "nonce": secrets.token_urlsafe(16), "signed_at": timezone.now().isoformat(),
                "role": role}), expect=(201,))
            st.advance()
        city = _signed("SEOUL", {
            "plan": plan.pk, "statement": str(statement.public_id), "sha256": statement.sha256,
            "nonce": secrets.token_urlsafe(16), "signed_at": timezone.now().isoformat(),
            "role": "city"})
        statement_sign(statement=statement, operator=Operator.objects.get(code="SEOUL"),
                       payload_b64=city["payload"], signature_b64=city["signature"],
                       by=officer_actor(ctx.officer))
        st.advance()
        signed_by = sorted(statement.signatures.values_list("role", flat=True))
        st.note(f"statement {statement.sha256[:12]} signed by {', '.join(signed_by)}")
    _money(ctx)["statement"] = {"id": str(statement.public_id), "sha256": statement.sha256,
                                "signed_by": signed_by}
