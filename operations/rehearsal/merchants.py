"""The merchants: their consent campaign (stage 3), their answers on the real pages
(stage 4, each merchant's profile drawn in the cast) and, after release 1, the withdrawals
Shinhan confirms as deletions (stage 9)."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.core.management import call_command

from operations.rehearsal.context import OBJECT_SHARE, PROFILES, WITHDRAW_SHARE, Cast, Context
from operations.rehearsal.people import Visitor
from operations.rehearsal.sms import SENT_STATES, campaign_for, links_collect, send_until_done


def stage_campaigns(ctx: Context) -> None:
    from consent.models import SmsMessage

    o = ctx.options
    with ctx.progress.stage("campaigns", "3. 가맹점 동의 요청 발송 (SMS)",
                            total=o.merchants) as st:
        if o.merchants:
            campaign = campaign_for(ctx, "merchant", "가맹점 개인정보 제공 동의 요청",
                                    [f"M-{i:07d}" for i in range(1, o.merchants + 1)])
            ctx.facts.setdefault("campaigns", {})["merchant"] = campaign.pk
            send_until_done([campaign], st)
            sent = SmsMessage.objects.filter(request__campaign=campaign,
                                             status__in=SENT_STATES).count()
            st.note(f"{sent:,} SMS accepted by the provider")


def cast_draw(ctx: Context) -> Cast:
    rng = random.Random(ctx.options.seed)
    cast = Cast()
    names, weights = zip(*PROFILES, strict=True)
    for i in range(1, ctx.options.merchants + 1):
        cast.merchant_profile[i] = rng.choices(names, weights)[0]
    agreeing = sorted(i for i, p in cast.merchant_profile.items() if p == "agree_all")
    cast.withdrawing = set(rng.sample(agreeing, max(1, int(len(agreeing) * WITHDRAW_SHARE)))
                           if agreeing else [])
    o = ctx.options
    by_lms = (o.users - round(o.users * o.app_share) if o.sms_users is None
              else min(o.users, o.sms_users))
    cast.lms_users, cast.app_users = range(1, by_lms + 1), range(by_lms + 1, o.users + 1)
    # Early movers and objectors among the users the LMS is sent to (those it cannot reach
    # never see a link, and so cannot act): disjoint sets.
    lms = list(cast.lms_users)
    cast.objecting_users = set(rng.sample(lms, min(len(lms), max(
        1, int(len(lms) * OBJECT_SHARE))))) if lms else set()
    others = [i for i in lms if i not in cast.objecting_users]
    cast.early_users = set(rng.sample(others, min(len(others), max(
        1, int(len(lms) * o.early_share))))) if others else set()
    return cast


def _merchant_acts(ctx: Context, i: int, profile: str) -> str:
    from governance.seoul import synthetic_brn

    visitor = Visitor(ctx.links[f"M-{i:07d}"], ctx.base_url, person=i)
    if profile == "opened_only":
        visitor.open()
        return profile
    visitor.verify(synthetic_brn(i))
    optional = visitor.optional_items()
    if profile == "agree_all":
        visitor.answer(required="agree", optional={k: "agree" for k in optional})
    elif profile == "required_only":
        visitor.answer(required="agree", optional={k: "decline" for k in optional})
    else:
        visitor.answer(required="decline", optional={k: "decline" for k in optional})
    receipt = visitor.receipt_json()
    if not receipt:
        raise RuntimeError("empty receipt")
    return profile


def stage_answers(ctx: Context) -> None:
    links_collect(ctx)
    ctx.cast = cast = cast_draw(ctx)
    acting = [(i, p) for i, p in cast.merchant_profile.items() if p != "never"]
    acting = acting[:ctx.options.http_answers]
    outcomes: Counter = Counter()
    with ctx.progress.stage("answers", "4. 가맹점 응답 (모바일 페이지, HTTP)",
                            total=len(acting)) as st:
        with ThreadPoolExecutor(max_workers=ctx.options.workers) as pool:
            for job in [pool.submit(_merchant_acts, ctx, i, p) for i, p in acting]:
                outcomes[job.result()] += 1
                st.advance()
        st.note(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    answered = {i for i, _ in acting}
    ctx.cast.merchant_profile = {i: (p if p == "never" or i in answered else "never")
                                 for i, p in cast.merchant_profile.items()}
    ctx.cast.withdrawing &= answered
    ctx.facts["answers"] = dict(outcomes)


def _merchant_withdraws(ctx: Context, i: int) -> None:
    from governance.seoul import synthetic_brn

    visitor = Visitor(ctx.links[f"M-{i:07d}"], ctx.base_url, person=i)
    visitor.verify(synthetic_brn(i))
    visitor.press("/withdraw")


def stage_changes(ctx: Context) -> None:
    from transfers.client import Api, deletions

    withdrawing = sorted(ctx.cast.withdrawing)
    with ctx.progress.stage("changes", "9. 이전 후 동의 철회·삭제 확인",
                            total=len(withdrawing) + 1) as st:
        with ThreadPoolExecutor(max_workers=ctx.options.workers) as pool:
            for job in [pool.submit(_merchant_withdraws, ctx, i) for i in withdrawing]:
                job.result()
                st.advance()
        # What Celery beat does every minute (transfers.tasks.detect_deletions): the feed's
        # GET only reads, so the search runs here before Shinhan polls.
        call_command("detect_deletions", stdout=open("/dev/null", "w"))  # noqa: SIM115
        api = Api(ctx.base_url, *ctx.shinhan_client)
        api.authenticate()
        confirmed = deletions(api, ctx.out / "shinhan", plan_id=ctx.plan.pk, confirm=True,
                              log=lambda *_: None)
        st.advance()
        st.note(f"{len(withdrawing)} withdrew, {len(confirmed)} deletions confirmed")
    ctx.facts["deletions_confirmed"] = len(confirmed)

