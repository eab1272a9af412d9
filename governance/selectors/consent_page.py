"""Governance reads for the consent app's page (`consent.views`): the plan version it shows
and the plan's field rules.

(The page's link query, `consent.bulk.link_request_joined`, joins the subject and its consent
state with every table and column name taken from governance's models, not spelled by hand.)
"""

from __future__ import annotations

from core.cache import memoize
from governance.models import FieldRule, TransferPlan

PLAN_SECONDS = 60  # how old the page's copy of a plan version may be


@memoize(seconds=PLAN_SECONDS)
def plan_for_page(plan_id: int) -> TransferPlan:
    """The plan version with both operators, for rendering pages; this process's copy may
    be up to ``PLAN_SECONDS`` old. A plan past draft is frozen, so only its status (and its
    operators' contact details) can change meanwhile, and the consent decisions re-read the
    plan (locked) before they write."""
    return TransferPlan.objects.select_related("from_operator", "to_operator").get(pk=plan_id)


def plan_field_rules(*, plan_id: int, subject_kind: str) -> list[FieldRule]:
    """The plan's field rules for one kind of subject, with their fields, in catalogue
    order: what the confirm page and the receipt sort into "moves on consent", "moves on
    another basis" and "stays"."""
    return list(FieldRule.objects.select_related("field")
                .filter(plan_id=plan_id, field__subject_kind=subject_kind)
                .order_by("field__position", "field__key"))
