"""The users: the Art. 27 notice by LMS or in KEPF's app, attested (stage 5), and the
users who open it to move now or to object (stage 6)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.utils import timezone

from operations.rehearsal.context import Context
from operations.rehearsal.people import Visitor
from operations.rehearsal.sms import (
    campaign_for,
    delivery_reports_wait,
    links_collect,
    send_until_done,
    standin_undelivered_share,
)


def stage_notices(ctx: Context) -> None:
    """The notice itself by LMS (its delivery report is the evidence), a share of handsets
    out of reach; the users told in KEPF's app attested by KEPF, signed, through the API."""
    from consent.models import SmsMessage
    from governance.models import FieldRule

    cast, o = ctx.cast, ctx.options
    with ctx.progress.stage("notices", "5. 이용자 이전 고지 (LMS·운영사 앱 공지 확인서)",
                            total=len(cast.lms_users) + len(cast.app_users)) as st:
        if cast.lms_users:
            notice_items = list(ctx.plan.rules.filter(
                basis=FieldRule.Basis.NOTICE_OPT_OUT, field__subject_kind="user")
                .order_by("field__position").values_list("field__key", flat=True))
            standin_undelivered_share(ctx, o.undelivered_share)
            try:
                campaign = campaign_for(ctx, "user", "이용자 영업양도 이전 고지",
                                        [f"U-{i:07d}" for i in cast.lms_users],
                                        items=notice_items)
                ctx.facts.setdefault("campaigns", {})["user"] = campaign.pk
                send_until_done([campaign], st)
                delivery_reports_wait(campaign)
            finally:
                standin_undelivered_share(ctx, 0.0)
            statuses = Counter(SmsMessage.objects.filter(request__campaign=campaign)
                               .values_list("status", flat=True))
            st.note(f"LMS: {statuses.get('delivered', 0):,} delivered, "
                    f"{statuses.get('undelivered', 0) + statuses.get('failed', 0):,} not")
        if cast.app_users:
            attested = _kepf_attests(ctx, [f"U-{i:07d}" for i in cast.app_users])
            st.advance(len(cast.app_users))
            st.note(f"KEPF attested {attested:,} users told in its app")
    links_collect(ctx)


def _kepf_attests(ctx: Context, external_ids: list[str]) -> int:
    """KEPF told these users in its app a moment ago; it signs and posts that, per user."""
    from governance.demo import demo_keys_dir
    from transfers.client import Api, attest

    api = Api(ctx.base_url, *ctx.kepf_client, scope="upload")
    api.authenticate()
    keys = json.loads((demo_keys_dir() / "KEPF.json").read_text())
    told_at = (timezone.now() - dt.timedelta(seconds=1)).isoformat()
    lines = ({"external_id": e, "channel": "in_app", "notified_at": told_at}
             for e in external_ids)
    return attest(api, keys, lines, plan_id=ctx.plan.pk, log=lambda *_: None)["subjects"]


def _user_acts(ctx: Context, i: int, action: str) -> str:
    """A user opens the notice (readable without the identity check), verifies with the last
    four digits of their phone, and asks to move now or objects."""
    from governance.seoul import synthetic_phone

    link = ctx.links.get(f"U-{i:07d}")
    if link is None:
        return "unreached"  # the LMS never reached the handset: no link to open
    visitor = Visitor(link, ctx.base_url, person=ctx.options.merchants + i)
    visitor.verify(synthetic_phone(i)[-4:])
    visitor.press("/early" if action == "early" else "/object")
    return "moved_early" if action == "early" else "objected"


def stage_users(ctx: Context) -> None:
    cast = ctx.cast
    acting = [(i, "early") for i in sorted(cast.early_users)]
    acting += [(i, "object") for i in sorted(cast.objecting_users)]
    outcomes: Counter = Counter()
    with ctx.progress.stage("users", "6. 이용자: 지금 이전하기·이전 거부 (모바일 페이지)",
                            total=len(acting)) as st:
        with ThreadPoolExecutor(max_workers=ctx.options.workers) as pool:
            for job in [pool.submit(_user_acts, ctx, i, a) for i, a in acting]:
                outcomes[job.result()] += 1
                st.advance()
        st.note(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    ctx.facts["user_actions"] = dict(outcomes)

