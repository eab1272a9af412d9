"""Arranging the past for tests: what happened before the test begins, recorded through the
real services."""

from __future__ import annotations


def notified_long_ago(plan, subjects=None, *, days: int = 31, channel: str = "lms"):
    """Arrange history: ``plan`` was approved ``days`` + 1 days ago, and its Art. 27 notice
    reached ``subjects`` (default: every subject of its outgoing operator) ``days`` days ago,
    recorded through the real service as evidence of ``channel``. With the default 30-day
    period, their `notice_opt_out` fields may move now."""
    import datetime as dt

    from django.utils import timezone

    from governance.models import DataSubject, TransferPlan
    from governance.services import Evidence, notice_evidence_record

    now = timezone.now()
    TransferPlan.objects.filter(lineage=plan.lineage).update(
        approved_at=now - dt.timedelta(days=days + 1))
    plan.refresh_from_db()
    if subjects is None:
        subjects = DataSubject.objects.filter(source_operator_id=plan.from_operator_id)
    return notice_evidence_record(plan=plan, by=None, evidence=[
        Evidence(subject, channel, now - dt.timedelta(days=days), f"test-{channel}-{subject.pk}")
        for subject in subjects])
