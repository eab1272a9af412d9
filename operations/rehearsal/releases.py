"""What Shinhan receives: release 1 (what may move now), the commission's ruling on the
disputed fields (stage 8), and the bulk release at cut-over once every notice period has run
(stage 10)."""

from __future__ import annotations

import time

from django.utils import timezone

from operations.rehearsal.context import Context


def _pull(ctx: Context, key: str, label: str) -> dict:
    from transfers.client import Api, pull

    with ctx.progress.stage(key, label, total=1) as st:
        api = Api(ctx.base_url, *ctx.shinhan_client)
        api.authenticate()
        summary = pull(api, ctx.shinhan_keys, ctx.out / "shinhan", plan_id=ctx.plan.pk,
                       new=True, wait_seconds=3600, log=lambda *_: None)
        st.advance()
        st.note(f"{summary['records']:,} records, acknowledged: {summary['acknowledged']}")
    ctx.releases.append(summary)
    return summary


def stage_release_early(ctx: Context) -> None:
    _pull(ctx, "release1", "7. 1차 제공 (먼저 이전할 수 있는 정보·지금 이전 요청자)")


def stage_release_bulk(ctx: Context) -> None:
    _wait_for_notice_periods(ctx)
    _pull(ctx, "release2", "10. 전환 시점 일괄 제공 (cut-over)")


def _wait_for_notice_periods(ctx: Context) -> None:
    """The cut-over comes once the newest evidence's notice period has run (a rehearsal day
    is seconds long): waited for in real time, never pretended."""
    from django.db.models import Max

    from governance.models import SubjectNotice

    newest = SubjectNotice.objects.filter(lineage=ctx.plan.lineage).aggregate(
        t=Max("notified_at"))["t"]
    if newest is not None:
        pause = (newest + ctx.plan.notice_period - timezone.now()).total_seconds()
        time.sleep(max(0.0, pause) + 0.5)


def stage_ruling(ctx: Context) -> None:
    from governance.models import Operator
    from governance.services import ruling_record

    with ctx.progress.stage("ruling", "8. 개인정보보호위원회 결정", total=1) as st:
        ruling_record(
            dispute=ctx.dispute, authority="개인정보보호위원회 (PIPC)",
            decided_on=timezone.localdate(), controller=Operator.objects.get(code="SEOUL"),
            processor=Operator.objects.get(code="KEPF"), by=ctx.officer,
            reference="리허설 결정", outcome="운영사는 서울시의 수탁자: 위탁 종료 시 반환 가능",
            effect="대표자명·전화번호는 계획의 이전 근거(위탁 반환, 제26조)를 따름")
        st.advance()

