"""Stages 1 and 2: the scenario (demo data, the dispute referred to the commission, an
approved rehearsal plan, the operators' API clients) and KEPF's upload over its OAuth2 API,
with a few planted errors corrected the way a real operator would."""

from __future__ import annotations

import datetime as dt
import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from operations.rehearsal import money
from operations.rehearsal.context import BATCH_ROWS, SYSTEM, Context


def stage_scenario(ctx: Context) -> None:
    from governance.models import Operator
    from governance.seoul import DISPUTED_FIELDS, PLAN_VALUES, seoul_plan_rules
    from governance.services import dispute_open, plan_approve, plan_create, plan_submit
    from transfers.services.clients import operator_client_create

    with ctx.progress.stage("scenario", "1. 시나리오 (운영사·항목·분쟁·계획)", total=4) as st:
        call_command("demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 - discarded output
        st.advance()
        users = get_user_model().objects
        ctx.officer, ctx.second_officer = users.get(username="officer"), users.get(
            username="officer2")
        operators = {o.code: o for o in Operator.objects.all()}
        from governance.models import Field

        fields = {f.key: f for f in Field.objects.all()}
        today = timezone.localdate()
        ctx.dispute = dispute_open(
            title=f"리허설 {today}: 가맹점 대표자명·전화번호 관리 주체 이의",
            fields=[fields[k] for k in DISPUTED_FIELDS], claimant=operators["SEOUL"],
            counter_claimant=operators["KEPF"], by=ctx.officer,
            claimant_ground="가맹점 핵심 정보는 사업 주관자인 서울시의 정보이며 운영사는 수탁자임",
            counter_ground="대표자명·전화번호는 운영사의 영업 정보이며 가맹점 동의 없이 제공 불가",
            opened_on=today, referred_on=today)
        st.advance()
        now = timezone.now()
        # The rehearsal plays weeks in minutes: its plan is a rehearsal with a notice period
        # of one (rehearsal) day, counted per user from that user's evidence like a real one.
        settings.REHEARSAL_DAY_SECONDS = ctx.options.day_seconds
        values = {**PLAN_VALUES, "notice_period_days": 1, "rehearsal": True,
                  "title": f"[리허설 {now:%Y-%m-%d %H:%M}] {PLAN_VALUES['title']}"}
        plan = plan_create(by=ctx.officer, from_operator=operators["KEPF"],
                           to_operator=operators["SHINHAN"], rules=seoul_plan_rules(fields),
                           subcontractor=money.subcontractor_ensure(),
                           notice_starts_at=now,
                           cutover_at=now + dt.timedelta(seconds=ctx.options.day_seconds,
                                                         hours=1), **values)
        plan_submit(plan=plan, by=ctx.officer)
        ctx.plan = plan_approve(plan=plan, by=ctx.second_officer)
        st.advance()
        kepf = operator_client_create(operator=operators["KEPF"], by=SYSTEM)
        shinhan = operator_client_create(operator=operators["SHINHAN"], by=SYSTEM)
        ctx.kepf_client = (kepf.client_id, kepf.client_secret)
        ctx.shinhan_client = (shinhan.client_id, shinhan.client_secret)
        from governance.demo import demo_keys_dir

        ctx.shinhan_keys = json.loads((demo_keys_dir() / "SHINHAN.json").read_text())
        st.advance()
        st.note(f"plan #{ctx.plan.pk}, dispute referred to the commission")


def _planted_errors(rows: list[dict]) -> dict[str, dict]:
    """Break a few rows the way real exports break; return the corrected rows by id."""
    fixes = {}
    for row, damage in zip(rows[:3], ("brn", "phone", "qr"), strict=False):
        fixes[row["external_id"]] = dict(row)
        if damage == "brn" and "merchant.business_registration_number" in row:
            digits = row["merchant.business_registration_number"].replace("-", "")
            row["merchant.business_registration_number"] = digits[:9] + str(
                (int(digits[9]) + 1) % 10)
        elif damage == "phone" and "merchant.representative_phone" in row:
            row["merchant.representative_phone"] = "02-123"
        elif "merchant.qr_merchant_id" in row:
            row["merchant.qr_merchant_id"] = "QR-INVALID"
    return fixes


def stage_upload(ctx: Context) -> None:
    from transfers.client import Api
    from transfers.synthetic import rows

    o = ctx.options
    api = Api(ctx.base_url, *ctx.kepf_client, scope="upload")
    api.authenticate()
    balance = sum(r["user.certificate_balance"] for r in rows("user", 1, o.users))
    declared = {"subjects": {"merchant": o.merchants, "user": o.users},
                "certificate_balance_sum": balance}
    upload = api.json("POST", f"/api/plans/{ctx.plan.pk}/uploads",
                      {"declared_totals": declared}, expect=(201,))
    path = f"/api/uploads/{upload['id']}"
    rejected_first, fixes = 0, {}
    with ctx.progress.stage("upload", "2. KEPF 업로드 (OAuth2 API)",
                            total=o.merchants + o.users) as st:
        for kind, count in (("merchant", o.merchants), ("user", o.users)):
            for start in range(1, count + 1, BATCH_ROWS):
                batch = list(rows(kind, start, min(BATCH_ROWS, count - start + 1)))
                if kind == "merchant" and start == 1:
                    fixes = _planted_errors(batch)
                body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch)
                report = _put_batch(api, f"{path}/batches/{kind}-{start:08d}", body)
                rejected_first += report["rejected"]
                st.advance(len(batch))
        if fixes:  # the operator reads the report and sends the corrected rows again
            body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fixes.values())
            report = _put_batch(api, f"{path}/batches/corrections-1", body)
        done = api.json("POST", f"{path}/complete", {})
        st.note(f"{done['accepted']:,} accepted, {rejected_first} rejected then corrected")
    ctx.facts["upload"] = {"declared": declared, "rejected_then_corrected": rejected_first,
                           "accepted": done["accepted"], "totals_match": done.get(
                               "totals", {}).get("matches")}


def _put_batch(api, path: str, body: str) -> dict:
    return api.send("PUT", path, body.encode(), "application/x-ndjson; charset=utf-8")

