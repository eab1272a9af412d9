"""The disposition of every won of a plan's accepted certificate balance.

Each figure comes from its own evidence, so they can disagree, and a disagreement is the
point of the report:

- ``accepted``: the upload batches' stored totals (what `transfers` accepted and declared
  against, `balance_sum_of`), users counted per batch;
- ``moved``: what the releases say they carried for the first time (their signed manifests'
  ``first_time`` balance; a rehearsal's releases are incremental too), counted by the
  subjects whose balance a release carried;
- ``refund_requested`` / ``refunded``: the refund cases' amounts;
- ``held``: the remaining users' record balances, per the policy's reason for the balance
  field now (objected without a refund, not yet notified, in the notice period, ...);
- ``unaccounted``: accepted minus all of the above, won and users. Zero for a clean plan; a
  record lost after its batch was counted, a release that carried another amount than was
  accepted, or a moved user who was refunded as well, all show here.

Between release and acknowledgement: each ready release's balance against the recipient's
signed totals for it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from governance.models import TransferPlan
from governance.policy import Reason
from governance.selectors import plan_decisions, plan_default_decisions, plan_notice_stages
from settlement.models import RefundCase
from transfers.models import Record, Release, ReleaseGroup, UploadBatch
from transfers.selectors import balance_sum_of, latest_acknowledgement
from transfers.validation import BALANCE_FIELD

# Held reasons as the report names them (the policy's reason for the balance field).
HELD_LABELS = {
    "objected_without_refund": "이전 거부, 환불 요청 없음 (objected, no refund asked)",
    "not_notified": "고지 도달 증거 없음 (not yet notified)",
    "notice_period": "고지 기간 진행 중 (notice period running)",
    "consent_pending": "동의 대기 (consent pending)",
    "releasable_not_released": "이전 가능, 아직 릴리스 안 됨 (allowed, not yet released)",
    "plan_not_active": "계획 미시행 (plan not in force)",
    "disputed": "관리 주체 분쟁 (ownership disputed)",
    "no_balance": "잔액 없음 (no balance in the record)",
}


def held_reason(reason: Reason) -> str:
    if reason is Reason.DENIED_OBJECTED:
        return "objected_without_refund"
    if reason.allowed:
        return "releasable_not_released"
    return reason.value.removeprefix("denied_")


def held_label(reason: str) -> str:
    return HELD_LABELS.get(reason, reason)


@dataclass
class Amount:
    count: int = 0
    won: int = 0

    def add(self, won: int, count: int = 1) -> None:
        self.count += count
        self.won += won


@dataclass
class ReleaseBalance:
    """One ready release's balance against the recipient's signed acknowledgement."""

    release: str
    number: int
    rehearsal: bool
    released: Amount
    acknowledged: Amount | None  # None: not acknowledged yet

    @property
    def difference(self) -> int | None:
        return None if self.acknowledged is None else (
            self.released.won - self.acknowledged.won)

    @property
    def state(self) -> str:
        if self.acknowledged is None:
            return "unacknowledged"
        same = (self.released.won, self.released.count) == (self.acknowledged.won,
                                                            self.acknowledged.count)
        return "matches" if same else "differs"


@dataclass
class Disposition:
    plan_id: int
    as_of: datetime
    accepted: Amount
    moved: Amount
    refund_requested: Amount
    refunded: Amount
    held: dict[str, Amount]
    releases: list[ReleaseBalance] = field(default_factory=list)
    # What the records themselves hold, and what they say moved (for the problems below).
    records: Amount = field(default_factory=Amount)
    records_moved: Amount = field(default_factory=Amount)

    @property
    def accounted(self) -> Amount:
        parts = [self.moved, self.refund_requested, self.refunded, *self.held.values()]
        return Amount(sum(p.count for p in parts), sum(p.won for p in parts))

    @property
    def unaccounted(self) -> Amount:
        accounted = self.accounted
        return Amount(self.accepted.count - accounted.count, self.accepted.won - accounted.won)

    @property
    def clean(self) -> bool:
        return (self.unaccounted == Amount() and not self.problems)

    @property
    def problems(self) -> list[str]:
        out = []
        if self.unaccounted.won or self.unaccounted.count:
            out.append(f"미확인 {self.unaccounted.won:,}원 / {self.unaccounted.count:,}명 "
                       "(unaccounted)")
        if self.records != self.accepted:
            out.append(f"레코드 합계 {self.records.won:,}원 ≠ 수락 합계 {self.accepted.won:,}원 "
                       "(the records no longer add up to what was accepted)")
        if self.records_moved.won != self.moved.won:
            out.append(f"릴리스가 옮긴 잔액 {self.moved.won:,}원 ≠ 해당 레코드 잔액 "
                       f"{self.records_moved.won:,}원 (released another amount than accepted)")
        for line in self.releases:
            if line.state == "differs":
                out.append(f"릴리스 #{line.number}: 제공 {line.released.won:,}원 ≠ 수령 확인 "
                           f"{line.acknowledged.won:,}원 (released ≠ acknowledged)")
        return out

    @property
    def held_total(self) -> Amount:
        return Amount(sum(a.count for a in self.held.values()),
                      sum(a.won for a in self.held.values()))

    def balance_json(self) -> dict:
        """The `balance` object of `GET /api/plans/{plan}/reconciliation`."""
        unaccounted = self.unaccounted
        return {"accepted": self.accepted.won, "moved": self.moved.won,
                "refund_requested": self.refund_requested.won, "refunded": self.refunded.won,
                "held": {reason: a.won for reason, a in sorted(self.held.items())},
                "unaccounted": unaccounted.won,
                "detail": {
                    "accepted": _amount(self.accepted), "moved": _amount(self.moved),
                    "refund_requested": _amount(self.refund_requested),
                    "refunded": _amount(self.refunded),
                    "held": {reason: _amount(a) for reason, a in sorted(self.held.items())},
                    "unaccounted": _amount(unaccounted)}}


def _amount(a: Amount) -> dict:
    return {"count": a.count, "won": a.won}


def _moved_subject_ids(releases: list[Release]) -> set[int]:
    """The subjects whose balance a release of the plan carried (a rehearsal's releases are
    incremental like real ones, as `transfers.services.release_lines` builds them)."""
    moved: set[int] = set()
    groups = (ReleaseGroup.objects.filter(release__in=releases)
              .values_list("fields", "subject_ids"))
    for fields, packed in groups.iterator(chunk_size=50):
        if BALANCE_FIELD in fields:
            moved.update(ReleaseGroup.unpack_ids(packed))
    return moved


def _moved_won(releases: list[Release]) -> int:
    """What the releases' signed manifests say they moved for the first time."""
    return sum(json.loads(bytes(r.manifest))["counts"]["first_time"]["certificate_balance_sum"]
               for r in releases)


class _BalanceReasons:
    """The policy's reason for each user's balance field now, looked up as a release does
    (`transfers.services.release_lines`): the subjects who answered from their own rows, the
    others by their notice stage, the rest by the defaults of their kind."""

    def __init__(self, plan: TransferPlan, now: datetime) -> None:
        defaults = plan_default_decisions(plan, now=now).get("user", {})
        self.default = self._reason(defaults)
        stages = plan_notice_stages(plan, now=now)
        self.in_period = self._reason(stages.in_period.get("user", {}))
        self.elapsed = self._reason(stages.elapsed.get("user", {}))
        self.in_period_ids = set(stages.in_period_ids)
        self.elapsed_ids = set(stages.elapsed_ids)
        self.answered = {ref.id: self._reason(decisions) for ref, decisions
                         in plan_decisions(plan, now=now, answered_only=True)
                         if ref.kind == "user"}

    @staticmethod
    def _reason(decisions) -> str:
        decision = decisions.get(BALANCE_FIELD)
        # A Decision is falsy when denied: test for None.
        return held_reason(decision.reason if decision is not None else Reason.DENIED_NO_BASIS)

    def of(self, subject_id: int) -> str:
        found = self.answered.get(subject_id)
        if found is not None:
            return found
        if subject_id in self.elapsed_ids:
            return self.elapsed
        if subject_id in self.in_period_ids:
            return self.in_period
        return self.default


def plan_disposition(plan: TransferPlan, *, now: datetime | None = None) -> Disposition:
    """Where every won of ``plan``'s accepted balance is now (see the module docstring)."""
    now = now or timezone.now()
    batches = UploadBatch.objects.filter(upload__plan=plan)
    users = sum((kinds or {}).get("user", 0) for kinds in
                batches.values_list("kind_counts", flat=True))
    accepted = Amount(users, balance_sum_of(batches))
    releases = list(Release.objects.filter(plan=plan, status=Release.Status.READY)
                    .order_by("number"))
    moved_ids = _moved_subject_ids(releases)
    cases = {sid: (status, amount) for sid, status, amount in
             RefundCase.objects.filter(plan=plan).values_list("subject_id", "status",
                                                              "amount")}
    refund_requested, refunded = Amount(), Amount()
    for status, amount in cases.values():
        (refunded if status == RefundCase.Status.REFUNDED else refund_requested).add(amount)
    reasons = _BalanceReasons(plan, now)
    held: dict[str, Amount] = {}
    records, records_moved, moved = Amount(), Amount(), Amount(0, _moved_won(releases))
    rows = (Record.objects.filter(plan_id=plan.pk, kind="user")
            .values_list("subject_id", "certificate_balance"))
    held_counts: Counter = Counter()
    held_won: Counter = Counter()
    for subject_id, balance in rows.iterator(chunk_size=20_000):
        won = balance or 0
        records.add(won)
        if subject_id in moved_ids:
            records_moved.add(won)
            moved.count += 1
            continue
        if subject_id in cases:
            continue
        reason = "no_balance" if balance is None else reasons.of(subject_id)
        held_counts[reason] += 1
        held_won[reason] += won
    for reason, count in held_counts.items():
        held[reason] = Amount(count, held_won[reason])
    return Disposition(plan_id=plan.pk, as_of=now, accepted=accepted, moved=moved,
                       refund_requested=refund_requested, refunded=refunded, held=held,
                       releases=_release_balances(releases), records=records,
                       records_moved=records_moved)


def _release_balances(releases: list[Release]) -> list[ReleaseBalance]:
    out = []
    for release in releases:
        control = json.loads(bytes(release.manifest))["control_totals"]
        released = Amount((control.get("subjects") or {}).get("user", 0),
                          control["certificate_balance_sum"])
        ack = latest_acknowledgement(release)
        acknowledged = None
        if ack is not None:
            totals = ack.totals or {}
            acknowledged = Amount((totals.get("subjects") or {}).get("user", 0),
                                  totals.get("certificate_balance_sum") or 0)
        out.append(ReleaseBalance(str(release.public_id), release.number, release.rehearsal,
                                  released, acknowledged))
    return out
