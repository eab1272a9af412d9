"""Subjects who never move under a plan, whatever the policy says of their fields.

The policy decides field by field from consent, notice and rulings. Another app's record can
take a subject out of the move altogether: settlement's refund case (a user refunded instead of
moved). That app registers its selector here from its AppConfig.ready, so governance imports
nothing above it. The release path skips these subjects (`transfers.services.release_lines`)
and the plan's summary counts them apart (`plan_decision_summary`), so an officer is never
told that someone may move who will not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from governance.models import TransferPlan


@dataclass(frozen=True)
class Withholding:
    """Why some subjects never move (shown to officers), and who they are for a plan."""

    reason: str
    subject_ids: Callable[[TransferPlan], set[int]]


SUBJECTS_WITHHELD: list[Withholding] = []


def withholding_register(*, reason: str, subject_ids: Callable[[TransferPlan], set[int]]
                         ) -> None:
    """Add a selector of withheld subjects (once, however often an app is made ready)."""
    if all(w.subject_ids is not subject_ids for w in SUBJECTS_WITHHELD):
        SUBJECTS_WITHHELD.append(Withholding(reason, subject_ids))


def plan_withheld(plan: TransferPlan) -> dict[int, str]:
    """Subject id -> why it never moves under ``plan`` (the first registered reason)."""
    withheld: dict[int, str] = {}
    for withholding in SUBJECTS_WITHHELD:
        for subject_id in withholding.subject_ids(plan):
            withheld.setdefault(subject_id, withholding.reason)
    return withheld
