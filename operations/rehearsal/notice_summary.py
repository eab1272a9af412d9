"""The users' Art. 27 story in the rehearsal report: who the notice reached and how, who was
never reached, who moved early, and checks that each of them moved only as the law allows.

Read back from the database (evidence, early requests, objections) and from what Shinhan
decrypted (the release files the rehearsal's recipient wrote): counts only, no personal value.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

from consent.models import SmsMessage
from governance.models import NoticeChannel, NoticeEvidence, SubjectConsentState, SubjectNotice
from transfers.models import Record

# A user's Art. 27 items: carried in a release only on notice (or an early request).
USER_NOTICE_FIELDS = ("user.name", "user.phone", "user.certificate_balance")
CHANNEL_LABELS = dict(NoticeChannel.choices)


def notice_section(ctx) -> dict:
    plan = ctx.plan
    users = dict(Record.objects.filter(plan=plan, subject__kind="user").values_list(
        "subject__external_id", "subject_id"))
    notified = dict(SubjectNotice.objects.filter(lineage=plan.lineage, subject__kind="user")
                    .values_list("subject_id", "notified_at"))
    first_channel = Counter(SubjectNotice.objects.filter(
        lineage=plan.lineage, subject__kind="user").values_list("channel", flat=True))
    pieces = Counter(NoticeEvidence.objects.filter(
        lineage=plan.lineage, subject__kind="user").values_list("channel", flat=True))
    states = SubjectConsentState.objects.filter(plan=plan, subject__kind="user")
    early = dict(states.exclude(early_requested_at=None).values_list(
        "subject_id", "early_requested_at"))
    objected = set(states.filter(objected=True).values_list("subject_id", flat=True))
    campaign_id = ctx.facts.get("campaigns", {}).get("user")
    lms = Counter(SmsMessage.objects.filter(request__campaign_id=campaign_id)
                  .values_list("status", flat=True)) if campaign_id else Counter()

    releases = [_carried(release, users) for release in ctx.releases]
    unreached = {s for s in users.values() if s not in notified and s not in early}
    period = plan.notice_period
    checks = []

    def check(label: str, ok: bool) -> None:
        checks.append({"label": label, "ok": bool(ok)})

    for number, as_of, carried in releases:
        too_soon = [s for s in carried if s not in early
                    and not (s in notified and notified[s] + period <= as_of)]
        check(f"{number}차 제공: 고지 도달 후 기간이 지났거나 지금 이전을 요청한 이용자만",
              not too_soon)
        check(f"{number}차 제공: 고지가 닿지 않은 이용자 없음", not carried & unreached)
        check(f"{number}차 제공: 이전 거부한 이용자 없음", not carried & objected)
        check(f"{number}차 제공: 지금 이전 요청 전에는 싣지 않음",
              all(early[s] <= as_of for s in carried if s in early
                  and not (s in notified and notified[s] + period <= as_of)))
    first = releases[0] if releases else None
    early_in_first = len(set(early) & first[2]) if first else 0
    early_before_period = sum(1 for s in set(early) & first[2]
                              if not (s in notified and notified[s] + period <= first[1])) \
        if first else 0
    moving_early = set(early) - objected
    if first:
        check("지금 이전을 요청한 이용자는 모두 1차 제공에", moving_early <= first[2])
    if len(releases) > 1:
        reached_not_objecting = {s for s in notified if s in users.values()} - objected
        check("고지가 닿고 이전 거부하지 않은 이용자는 모두 전환 시점까지 제공",
              reached_not_objecting <= set().union(*(c for _, _, c in releases)))
    return {
        "users": len(users),
        "reached": len(notified),
        "reached_by_channel": _by_channel(first_channel),
        "evidence_by_channel": _by_channel(pieces),
        "lms": {"sent": sum(lms.values()), "delivered": lms.get("delivered", 0),
                "undelivered": lms.get("undelivered", 0) + lms.get("failed", 0)},
        "unreached": len(unreached),
        "unreached_carried": sum(len(c & unreached) for _, _, c in releases),
        "early_requested": len(early),
        "early_in_release_1": early_in_first,
        "early_before_period_ended": early_before_period,
        "objected": len(objected),
        "carried_per_release": [{"number": n, "users": len(c)} for n, _, c in releases],
        "period_seconds": period.total_seconds(),
        "checks": checks,
        "passed": all(c["ok"] for c in checks),
    }


def _by_channel(counts: Counter) -> list[dict]:
    return [{"channel": c, "label": CHANNEL_LABELS.get(c, c), "count": n}
            for c, n in counts.most_common()]


def _carried(release: dict, users: dict[str, int]) -> tuple[int, datetime, set[int]]:
    """(number, as of, the users it carried with an Art. 27 item), from Shinhan's files."""
    records = Path(release["out"])
    manifest = json.loads((records.parent / "manifest.json").read_text())
    as_of = datetime.fromisoformat(manifest["release"]["as_of"].replace("Z", "+00:00"))
    carried = set()
    with records.open() as lines:
        for line in lines:
            record = json.loads(line)
            if record["kind"] == "user" and any(k in record["fields"]
                                                for k in USER_NOTICE_FIELDS):
                carried.add(users[record["external_id"]])
    return release["number"], as_of, carried
