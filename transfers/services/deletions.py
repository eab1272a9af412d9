"""Withdrawal after release: the recipient must delete what a subject no longer allows.

Derived from what was released (the releases' groups) and the subject's current state
(governance SubjectConsentState, kept by the consent app): any state change after a subject's
release that makes a released field denied now yields one DeletionNotice. So it works
whatever records the change (a withdrawal, an objection, a later decline).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from governance.models import SubjectConsentState, TransferPlan
from governance.selectors import plan_decisions
from transfers.models import DeletionNotice, Release
from transfers.selectors import releases_carried
from transfers.services.common import Conflict, record

SYSTEM = ("system", "system:transfers")


@transaction.atomic
def deletions_detect(*, plan: TransferPlan, now=None) -> list[DeletionNotice]:
    """Create the notices owed for consent changes made after the subject's release."""
    now = now or timezone.now()
    completed = dict(Release.objects.filter(plan__lineage=plan.lineage,
                                            status=Release.Status.READY, rehearsal=False)
                     .values_list("pk", "completed_at"))
    if not completed:
        return []
    noticed = DeletionNotice.objects.filter(plan__lineage=plan.lineage,
                                            subject_id=OuterRef("subject_id"),
                                            state_updated_at=OuterRef("updated_at"))
    # Only a state changed after some release can be owed a notice.
    candidates = {sid: (updated_at, withdrawn_at, objected) for sid, updated_at, withdrawn_at,
                  objected in SubjectConsentState.objects
                  .filter(plan__lineage=plan.lineage, updated_at__gt=min(completed.values()))
                  .exclude(Exists(noticed))
                  .values_list("subject_id", "updated_at", "withdrawn_at", "objected")}
    released: dict[int, set[str]] = {}
    changes = {}
    for release_id, subjects in releases_carried(completed, set(candidates)).items():
        for sid, fields in subjects.items():
            released.setdefault(sid, set()).update(fields)
            if completed[release_id] < candidates[sid][0]:  # released before the change
                changes[sid] = candidates[sid]
    if not changes:
        return []
    notices = []
    for ref, decisions in plan_decisions(plan, now=now, subject_ids=list(changes)):
        gone = sorted(k for k in released.get(ref.id, ())
                      if not (decisions.get(k) is not None and decisions[k].allowed))
        if not gone:
            continue
        updated_at, withdrawn_at, objected = changes[ref.id]
        reason = (DeletionNotice.Reason.WITHDRAWN if withdrawn_at is not None
                  else DeletionNotice.Reason.OBJECTED if objected
                  else DeletionNotice.Reason.DENIED)
        notices.append(DeletionNotice(plan=plan, recipient_id=plan.to_operator_id,
                                      subject_id=ref.id, fields=gone, reason=reason,
                                      state_updated_at=updated_at))
    if not notices:
        return []
    # Unique per (plan, subject, change): a concurrent poll that got there first wins.
    DeletionNotice.objects.bulk_create(notices, ignore_conflicts=True)
    created = list(DeletionNotice.objects.filter(
        plan=plan, subject_id__in=[n.subject_id for n in notices],
        state_updated_at__in={n.state_updated_at for n in notices}).order_by("id"))
    if created:
        record(SYSTEM, "deletion.requested", "governance.transferplan", plan.pk,
               {"plan_id": plan.pk, "notices": len(created)})
        transaction.on_commit(lambda: _queue_webhook(plan.pk))
    return created


def _queue_webhook(plan_id: int) -> None:
    from transfers.tasks import deliver_deletion_webhooks

    deliver_deletion_webhooks.delay(plan_id)


@transaction.atomic
def deletion_confirm(*, notice: DeletionNotice, by: tuple[str, str]) -> DeletionNotice:
    """The recipient says it deleted the fields. Confirming twice changes nothing."""
    notice = DeletionNotice.objects.select_for_update().get(pk=notice.pk)
    if notice.confirmed_at is not None:
        return notice
    if notice.plan.status == TransferPlan.Status.CANCELLED:
        raise Conflict("the plan was cancelled")
    notice.confirmed_at = timezone.now()
    notice.save(update_fields=["confirmed_at"])
    record(by, "deletion.confirmed", "transfers.deletionnotice", notice.pk,
           {"plan_id": notice.plan_id, "fields": notice.fields})
    return notice
