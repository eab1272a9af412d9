"""Evidence that the Art. 27 notice reached a subject (a request to move now: consent_states).

A subject's notice period starts when evidence about that subject shows the notice reached
them (`NoticeChannel`: a delivered LMS, an opened notice link, an operator's signed
attestation, an officer's record of a call), never at a date typed into the plan. Every piece
is kept (`NoticeEvidence`) and is an audit event; the earliest is mirrored into
`SubjectNotice`, which the policy reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from audit.services import audit_event
from governance.models import (
    DataSubject,
    NoticeChannel,
    NoticeEvidence,
    SubjectNotice,
    TransferPlan,
)
from governance.services.common import Actor, GovernanceError, acting, actor_of, user_of

# How far ahead of our clock a piece of evidence may be dated (the sender's clock drifts).
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence to record: whose, how, when, and what proves it."""

    subject: DataSubject
    channel: str
    notified_at: datetime
    reference: str
    reason: str = ""


def lineage_approved_at(plan: TransferPlan) -> datetime | None:
    """When the first version of the plan's lineage was approved: no notice of it can have
    reached anyone before (the notice text is rendered from an approved plan)."""
    return (TransferPlan.objects.filter(lineage=plan.lineage, approved_at__isnull=False)
            .aggregate(first=Min("approved_at"))["first"])


def _refusal(plan: TransferPlan, item: Evidence, by: Actor, approved_at, now) -> str | None:
    """Why ``item`` cannot be evidence for ``plan``, or None."""
    if item.channel not in NoticeChannel.values:
        return f"unknown channel {item.channel!r}"
    if item.subject.source_operator_id != plan.from_operator_id:
        return "the subject is not held by the plan's outgoing operator"
    if item.notified_at > now + CLOCK_SKEW:
        return "the notice cannot have reached the subject in the future"
    if approved_at is None or item.notified_at < approved_at:
        return "the notice cannot have reached the subject before the plan was approved"
    if not 1 <= len(item.reference) <= 100:
        return "the reference is 1-100 characters"
    if item.channel == NoticeChannel.PHONE and (user_of(by) is None or not item.reason.strip()):
        return "a phone notice is recorded by an officer, with a reason"
    return None


@transaction.atomic
def notice_evidence_record(*, plan: TransferPlan, evidence: list[Evidence], by: Actor
                           ) -> list[NoticeEvidence]:
    """Record each piece of ``evidence`` for ``plan``'s lineage, all or none.

    Raises `GovernanceError` naming the first piece refused (nothing is stored then). The same
    proof sent again (same subject, channel and reference: a retried webhook, a replayed
    attestation) is not a second piece: it answers the first record and writes nothing.
    """
    if plan.status not in TransferPlan.IN_FORCE:
        raise GovernanceError("승인된 계획만 고지할 수 있습니다. (the plan is not in force)")
    approved_at, now = lineage_approved_at(plan), timezone.now()
    for position, item in enumerate(evidence):
        problem = _refusal(plan, item, by, approved_at, now)
        if problem:
            raise GovernanceError(f"evidence #{position + 1}: {problem}")
    return [_record_one(plan, item, by) for item in evidence]


def _record_one(plan: TransferPlan, item: Evidence, by: Actor) -> NoticeEvidence:
    existing = NoticeEvidence.objects.filter(
        lineage=plan.lineage, subject=item.subject, channel=item.channel,
        reference=item.reference).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            piece = NoticeEvidence.objects.create(
                lineage=plan.lineage, subject=item.subject, channel=item.channel,
                notified_at=item.notified_at, reference=item.reference,
                recorded_by=actor_of(by)[1], reason=item.reason.strip())
    except IntegrityError:  # the same proof, recorded by a concurrent retry
        return NoticeEvidence.objects.get(lineage=plan.lineage, subject=item.subject,
                                          channel=item.channel, reference=item.reference)
    _earliest_keep(plan, piece)
    audit_event(by=acting(by), action="notice.evidence_recorded", target=piece, details={
        "plan_id": plan.pk, "lineage": str(plan.lineage), "subject": item.subject.public_id,
        "channel": item.channel, "notified_at": item.notified_at.isoformat(),
        "reference_sha256": hashlib.sha256(item.reference.encode()).hexdigest()[:16]})
    return piece


def _earliest_keep(plan: TransferPlan, piece: NoticeEvidence) -> None:
    notice, created = SubjectNotice.objects.select_for_update().get_or_create(
        lineage=plan.lineage, subject_id=piece.subject_id,
        defaults={"notified_at": piece.notified_at, "channel": piece.channel})
    if not created and piece.notified_at < notice.notified_at:
        notice.notified_at, notice.channel = piece.notified_at, piece.channel
        notice.updated_at = timezone.now()
        notice.save(update_fields=["notified_at", "channel", "updated_at"])


def subject_notified_at(*, plan: TransferPlan, subject: DataSubject) -> datetime | None:
    notice = SubjectNotice.objects.filter(lineage=plan.lineage, subject=subject).first()
    return None if notice is None else notice.notified_at
