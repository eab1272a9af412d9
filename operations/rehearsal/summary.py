"""What the report shows, read back from the database after a rehearsal.

Only counts, totals and timings: no personal value. Field outcomes are the policy's decisions
*now*, over the subjects the outgoing operator uploaded: what the incoming operator may hold
after the move (a field withdrawn after release shows as held back: it was deleted).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db.models import Count
from django.db.models.functions import TruncSecond
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Campaign, ConsentRecord, ConsentRequest
from consent.services.campaigns import FUNNEL_LABELS, FUNNEL_STEPS, campaign_funnel
from governance.models import FieldRule
from governance.policy import EXPLANATIONS, Reason
from governance.selectors import plan_decisions
from operations.rehearsal.notice_summary import notice_section
from settlement.selectors import refund_withheld_subject_ids
from transfers.models import Record

PROFILE_LABELS = {
    "agree_all": "가맹점: 모든 항목 동의", "required_only": "가맹점: 필수 항목만 동의",
    "decline": "가맹점: 동의 거부", "opened_only": "가맹점: 링크만 열람",
    "never": "가맹점: 무응답",
}
TOTAL_LABELS = {"records": "레코드 수", "subjects.merchant": "가맹점 수",
                "subjects.user": "이용자 수", "certificate_balance_sum": "상품권 잔액 합계(원)"}


def build(ctx, stages: list[dict]) -> dict:
    plan = ctx.plan
    o = ctx.options
    campaigns = Campaign.objects.filter(pk__in=ctx.facts.get("campaigns", {}).values())
    merchant_campaign = campaigns.filter(subject_kind="merchant").first()
    reconciliation = _reconciliation(ctx.facts.get("reconciliation", []),
                                     ctx.facts.get("money", {}).get("disposition"))
    audit = dict(ctx.facts.get("audit", {}))
    audit["by_stage"] = _audit_by_stage(stages)
    notice = notice_section(ctx)
    summary = {
        "parameters": {"merchants": o.merchants, "users": o.users, "seed": o.seed,
                       "http_answers": o.http_answers, "plan_id": plan.pk},
        "stages": stages,
        "outcomes": _outcomes(ctx, campaigns),
        "funnel": _funnel(merchant_campaign),
        "timeline": _timeline(campaigns),
        "fields": _fields(plan),
        "reconciliation": reconciliation,
        "notice": notice,
        "money": ctx.facts.get("money", {}),
        "corrections": ctx.facts.get("corrections", {}),
        "audit": audit,
        "releases": [{k: r[k] for k in ("release", "number", "records", "chunks",
                                        "acknowledged")} for r in ctx.releases],
    }
    summary["passed"] = bool(
        reconciliation and all(r["match"] for r in reconciliation)
        and audit.get("verified") and audit.get("bundle_verified") and notice["passed"]
        and ctx.facts.get("money", {}).get("disposition", {}).get("clean", False)
        and bool(ctx.facts.get("money", {}).get("statement"))
        and ctx.facts.get("corrections", {}).get("open", 1) == 0
        and all(r["acknowledged"] for r in ctx.releases))
    return summary


def _outcomes(ctx, campaigns) -> list[dict]:
    upload = ctx.facts.get("upload", {})
    profiles = Counter(ctx.cast.merchant_profile.values())
    rows = [("업로드 접수 레코드", upload.get("accepted", 0)),
            ("오류로 반려 후 정정된 행", upload.get("rejected_then_corrected", 0))]
    for kind, label in (("merchant", "가맹점 동의 요청"), ("user", "이용자 이전 고지 (LMS)")):
        rows.append((label, ConsentRequest.objects.filter(campaign__in=campaigns,
                                                          campaign__subject_kind=kind).count()))
    rows.append(("이용자 이전 고지 (운영사 앱 공지, 확인서)", len(ctx.cast.app_users)))
    rows.append(("이용자: 지금 이전하기", ctx.facts.get("user_actions", {}).get("moved_early", 0)))
    rows += [(PROFILE_LABELS[p], profiles.get(p, 0)) for p in PROFILE_LABELS]
    rows.append(("가맹점: 이전 후 동의 철회", ConsentRecord.objects.filter(
        request__campaign__in=campaigns, action=ConsentRecord.Action.WITHDRAW).count()))
    rows.append(("이용자: 이전 거부 (이의)", ConsentRecord.objects.filter(
        request__campaign__in=campaigns, action=ConsentRecord.Action.OBJECT).count()))
    for release in ctx.releases:
        rows.append((f"{release['number']}차 제공 레코드", release["records"]))
    rows.append(("삭제 요청 확인 (수령자)", ctx.facts.get("deletions_confirmed", 0)))
    return [{"label": label, "value": value} for label, value in rows]


def _funnel(campaign) -> list[dict]:
    if campaign is None:
        return []
    counts = campaign_funnel(campaign=campaign)
    return [{"step": s, "label": FUNNEL_LABELS[s], "value": counts[s]} for s in FUNNEL_STEPS]


def _timeline(campaigns) -> dict:
    """Cumulative counts per second of the rehearsal: sent, opened, verified, answered, ..."""
    requests = ConsentRequest.objects.filter(campaign__in=campaigns)
    series = {}
    for key, label, column in (("sent", "발송", "first_sent_at"),
                               ("opened", "링크 열람", "opened_at"),
                               ("verified", "본인 확인", "verified_at"),
                               ("answered", "응답", "answered_at")):
        series[key] = (label, _per_second(requests.exclude(**{f"{column}__isnull": True}),
                                          column))
    records = ConsentRecord.objects.filter(request__campaign__in=campaigns)
    for key, label, action in (("withdrawn", "철회", ConsentRecord.Action.WITHDRAW),
                               ("objected", "이전 거부", ConsentRecord.Action.OBJECT)):
        series[key] = (label, _per_second(records.filter(action=action), "created_at"))
    moments = sorted({t for _, counts in series.values() for t in counts})
    labels = [timezone.localtime(t).strftime("%H:%M:%S") for t in moments]
    out = []
    for label, counts in series.values():
        running, values = 0, []
        for t in moments:
            running += counts.get(t, 0)
            values.append(running)
        out.append({"label": label, "values": values})
    return {"labels": labels, "series": out}


def _per_second(queryset, column: str) -> dict[datetime, int]:
    return dict(queryset.annotate(t=TruncSecond(column)).values("t")
                .annotate(n=Count("id")).values_list("t", "n"))


def _uploaded_decisions(plan):
    """The policy's decisions now for the subjects the source uploaded: both streams come in
    subject order, so they are merged without holding millions of ids in memory."""
    uploaded = (Record.objects.filter(plan=plan).order_by("subject_id")
                .values_list("subject_id", flat=True).iterator(chunk_size=20_000))
    wanted = next(uploaded, None)
    for subject, decisions in plan_decisions(plan, now=timezone.now()):
        while wanted is not None and wanted < subject.id:
            wanted = next(uploaded, None)
        if wanted is None:
            return
        if wanted == subject.id:
            yield subject.id, decisions


# A user with a refund case never moves, whatever the policy says of its fields (settlement
# keeps it out of every release): its fields are held back for that reason.
REFUND_REASON, REFUND_LABEL = "refund_requested", "환불 요청 (이전하지 않음)"


def _fields(plan) -> list[dict]:
    moved: Counter = Counter()
    held: dict[str, Counter] = {}
    shapes: Counter = Counter()
    by_shape = {}
    refunding = refund_withheld_subject_ids(plan)
    for subject_id, decisions in _uploaded_decisions(plan):
        if subject_id in refunding:
            for key in decisions:
                held.setdefault(key, Counter())[REFUND_REASON] += 1
            continue
        shapes[id(decisions)] += 1
        by_shape[id(decisions)] = decisions
    for shape, n in shapes.items():
        for key, decision in by_shape[shape].items():
            if decision.allowed:
                moved[key] += n
            else:
                held.setdefault(key, Counter())[decision.reason.value] += n
    rows = []
    for rule in FieldRule.objects.filter(plan=plan).select_related("field").order_by(
            "field__subject_kind", "field__position"):
        key = rule.field.key
        reasons = held.get(key, Counter())
        rows.append({"key": key, "label": rule.field.label_ko, "moved": moved.get(key, 0),
                     "held": sum(reasons.values()),
                     "reasons": [{"reason": r, "label": _reason_label(r), "count": n}
                                 for r, n in reasons.most_common()]})
    return rows


def _reason_label(reason: str) -> str:
    if reason == REFUND_REASON:
        return REFUND_LABEL
    return EXPLANATIONS[Reason(reason)].split(" (")[0]


def _reconciliation(rows, disposition: dict | None) -> list[dict]:
    """The totals side by side. The balance also has to be accounted for won by won: equal
    declared and accepted sums say nothing of the objectors' balances that never moved, so
    its row matches only when the disposition (settlement) leaves nothing unaccounted."""
    out = []
    for row in rows:
        label = TOTAL_LABELS.get(row.metric)
        if label is None and row.metric.startswith("fields."):
            label = "항목 " + row.metric.removeprefix("fields.")
        out.append({"key": row.metric, "label": label or row.metric, "declared": row.declared,
                    "accepted": row.accepted, "moved": row.moved, "released": row.released,
                    "acknowledged": row.acknowledged, "match": row.ok,
                    "problem": row.problem, "note": ""})
        if row.metric == "certificate_balance_sum":
            _balance_accounted(out[-1], disposition)
    return out


def _balance_accounted(row: dict, disposition: dict | None) -> None:
    if disposition is None:
        row.update(match=False, problem="잔액 처리 내역(every won)을 만들지 못했습니다")
        return
    balance = disposition["balance"]
    held = sum(balance["held"].values())
    parts = (f"이전 {balance['moved']:,} + 환불 {balance['refunded']:,} + 환불 요청 "
             f"{balance['refund_requested']:,} + 보류 {held:,}원")
    if not disposition["clean"]:
        row.update(match=False, problem=f"처리 내역에 없는 금액 {balance['unaccounted']:,}원 "
                                        f"({parts})")
    else:
        row["note"] = parts


def _audit_by_stage(stages: list[dict]) -> list[dict]:
    out = []
    for stage in stages:
        if not stage.get("started_at") or not stage.get("ended_at"):
            continue
        n = AuditEvent.objects.filter(created_at__gte=stage["started_at"],
                                      created_at__lt=stage["ended_at"]).count()
        out.append({"label": stage["label"], "count": n})
    return out
