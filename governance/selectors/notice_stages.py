"""Who a plan's Art. 27 notice reached, per notice stage, without a row per subject
(`plan_notice_stages`)."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from governance.bulk import ascending_subject_ids_split
from governance.models import SubjectNotice, TransferPlan
from governance.policy import NO_ANSWER, Decision, NoticeStage, Notified, Timing, notice_stage
from governance.selectors.decisions import _decided, plan_inputs


@dataclass(frozen=True)
class NoticeStages:
    """Which subjects the plan's Art. 27 notice reached by ``now``, per notice stage (their
    ids ascending, 8 bytes each), and the decisions a subject of each kind who has answered
    no version of the plan gets at each stage: what `plan_decisions` yields for such a
    subject, without a row per subject. A bulk release decides the subjects who answered from
    their own rows (`plan_decisions(answered_only=True)`) and looks everyone else up here:
    the ids include the subjects who answered, so look those up there first. Reading a row
    for each of two million notified users cost more than the rest of a release's work for
    them."""

    in_period: Mapping[str, Mapping[str, Decision]]
    elapsed: Mapping[str, Mapping[str, Decision]]
    in_period_ids: array
    elapsed_ids: array

    def between(self, kind: str, first: int, last: int) -> dict[int, Mapping[str, Decision]]:
        """Subject id -> the decisions of an unanswered subject of ``kind`` at its stage, for
        the reached subjects with ids from ``first`` to ``last`` (the caller knows the kind
        of the records it holds)."""
        found: dict[int, Mapping[str, Decision]] = {}
        for ids, decided in ((self.in_period_ids, self.in_period),
                             (self.elapsed_ids, self.elapsed)):
            lo, hi = bisect.bisect_left(ids, first), bisect.bisect_right(ids, last)
            if lo < hi and kind in decided:
                found.update(dict.fromkeys(ids[lo:hi], decided[kind]))
        return found


_TICK = timedelta(microseconds=1)  # the resolution of both datetime and PostgreSQL


def _notice_cut(timing: Timing, now: datetime) -> datetime:
    """The latest notice time whose period has run by ``now``: notices up to it are
    `ELAPSED`, later ones up to ``now`` `IN_PERIOD`, later still `NOT_NOTIFIED`.
    `policy.notice_stage` is monotone in the notice time; checking it at both edges, to the
    microsecond, keeps this bucketing from ever drifting from the policy."""
    cut = now - timing.notice_period
    edges = [(cut, NoticeStage.ELAPSED), (now + _TICK, NoticeStage.NOT_NOTIFIED)]
    if timing.notice_period > timedelta(0):
        edges += [(cut + _TICK, NoticeStage.IN_PERIOD), (now, NoticeStage.IN_PERIOD)]
    for at, stage in edges:
        if notice_stage(Notified(at), timing, now) is not stage:
            raise RuntimeError("policy.notice_stage no longer cuts where "
                               "governance.selectors.plan_notice_stages does")
    return cut


def plan_notice_stages(plan: TransferPlan, *, now: datetime) -> NoticeStages:
    """Who the plan's notice reached by ``now``, per stage (see `NoticeStages`)."""
    inputs = plan_inputs(plan)
    cut = _notice_cut(inputs.timing, now)
    elapsed_ids, in_period_ids = ascending_subject_ids_split(
        SubjectNotice.objects.filter(lineage=plan.lineage, notified_at__lte=now), cut)
    return NoticeStages(
        in_period={kind: _decided(inputs, kind, NO_ANSWER, Notified(now), now)
                   for kind in inputs.rules_by_kind},
        elapsed={kind: _decided(inputs, kind, NO_ANSWER, Notified(cut), now)
                 for kind in inputs.rules_by_kind},
        in_period_ids=in_period_ids, elapsed_ids=elapsed_ids)
