"""Withdrawal after release: the recipient must delete what a subject no longer allows.

Derived from what was released (the releases' groups) and the subject's current state
(governance SubjectConsentState, kept by the consent app): any state change after a subject's
release that makes a released field denied now yields one DeletionNotice. So it works
whatever records the change (a withdrawal, an objection, a later decline). New notices are
then POSTed to the recipient's webhook, if it has one (`deletion_webhooks_deliver`, run by the
task `transfers.tasks.deliver_deletion_webhooks`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from audit.services import audit_event
from core.tasks import enqueue_on_commit
from governance.models import SubjectConsentState, TransferPlan
from governance.selectors import plan_decisions
from transfers.models import DeletionNotice, DeletionScan, OperatorClient, Release
from transfers.selectors import releases_carried
from transfers.services.common import SYSTEM, Conflict

logger = logging.getLogger(__name__)

EVER = dt.datetime.min.replace(tzinfo=dt.UTC)
# A consent state's `updated_at` is stamped inside its transaction, which commits a moment
# later: each search looks back this far before the previous one so that no change committed
# late is skipped (a notice is unique per change, so seeing a change twice adds nothing).
RESCAN_MARGIN = dt.timedelta(minutes=10)


@transaction.atomic
def deletions_detect(*, plan: TransferPlan, now=None) -> list[DeletionNotice]:
    """Create the notices owed for consent changes made after the subject's release.

    "After the release" means after its decisions were taken (`Release.as_of`), not after it
    was finished: a merchant who withdraws while the chunks are being written was carried.
    Called on every poll of the feed and every minute by `transfers.tasks.detect_deletions`;
    concurrent calls for a plan wait for each other (lock on its `DeletionScan`).
    """
    now = now or timezone.now()
    scanned_at = timezone.now()  # the clock, even when a test decides "now" for policy
    released_at = dict(Release.objects.filter(plan__lineage=plan.lineage,
                                              status=Release.Status.READY)
                       .values_list("pk", "as_of"))
    if not released_at:
        return []
    since = _changes_since(plan, scanned_at)
    noticed = DeletionNotice.objects.filter(plan__lineage=plan.lineage,
                                            subject_id=OuterRef("subject_id"),
                                            state_updated_at=OuterRef("updated_at"))
    # Only a state changed after some release's decisions can be owed a notice.
    candidates = {sid: (updated_at, withdrawn_at, objected) for sid, updated_at, withdrawn_at,
                  objected in SubjectConsentState.objects
                  .filter(plan__lineage=plan.lineage,
                          updated_at__gt=max(since, min(released_at.values())))
                  .exclude(Exists(noticed))
                  .values_list("subject_id", "updated_at", "withdrawn_at", "objected")}
    released: dict[int, set[str]] = {}
    changes = {}
    for release_id, subjects in releases_carried(released_at, set(candidates)).items():
        for sid, fields in subjects.items():
            released.setdefault(sid, set()).update(fields)
            if released_at[release_id] < candidates[sid][0]:  # decided before the change
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
        audit_event(by=SYSTEM, action="deletion.requested", target=plan,
                    details={"plan_id": plan.pk, "notices": len(created)})
        enqueue_on_commit("transfers.tasks.deliver_deletion_webhooks", plan.pk)
    return created


def _changes_since(plan: TransferPlan, scanned_at: dt.datetime) -> dt.datetime:
    """From when consent changes must be read, and the lineage's mark moved to ``scanned_at``.

    Since the previous search (less the margin), or since the decisions of any release
    finished after it: that release has not been compared with anything yet.
    """
    scan, created = DeletionScan.objects.select_for_update().get_or_create(
        lineage=plan.lineage, defaults={"scanned_at": scanned_at})
    if created:
        return EVER
    previous = scan.scanned_at - RESCAN_MARGIN
    new_releases = Release.objects.filter(plan__lineage=plan.lineage,
                                          status=Release.Status.READY,
                                          completed_at__gt=previous)
    first_new = new_releases.order_by("as_of").values_list("as_of", flat=True).first()
    scan.scanned_at = scanned_at
    scan.save(update_fields=["scanned_at"])
    return min(previous, first_new) if first_new is not None else previous


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
    audit_event(by=by, action="deletion.confirmed", target=notice,
                details={"plan_id": notice.plan_id, "fields": notice.fields})
    return notice


# One webhook POST names at most this many notices; the rest wait for the next delivery.
WEBHOOK_BATCH = 500


def deletion_webhooks_deliver(*, plan_id: int) -> int:
    """POST the plan's unsent deletion notices to each recipient client's webhook, if it
    configured an http(s) one; returns how many notices were sent.

    At most `WEBHOOK_BATCH` notices per client and call. A notice is marked sent
    (``webhook_sent_at``) only after its POST succeeded; a failed delivery (network error,
    timeout, error status) is logged without the URL's contents and simply tried next time.
    The feed (`GET /api/plans/{plan}/deletions`) stays the source of truth, so a lost
    webhook costs the recipient nothing but a poll.
    """
    sent = 0
    notices = DeletionNotice.objects.filter(plan_id=plan_id, webhook_sent_at__isnull=True)
    for client in OperatorClient.objects.filter(
            operator_id__in=notices.values("recipient_id"), active=True).exclude(webhook_url=""):
        batch = list(notices.filter(recipient=client.operator)
                     .select_related("subject")[:WEBHOOK_BATCH])
        if not batch or not client.webhook_url.startswith(("https://", "http://")):
            continue
        if not _webhook_post(client, _webhook_body(batch)):
            continue
        DeletionNotice.objects.filter(pk__in=[n.pk for n in batch]).update(
            webhook_sent_at=timezone.now())
        sent += len(batch)
    return sent


def _webhook_body(notices: list[DeletionNotice]) -> bytes:
    return json.dumps({"deletions": [
        {"id": n.pk, "subject": n.subject.public_id, "fields": n.fields,
         "reason": n.reason} for n in notices]}).encode()


def _webhook_post(client: OperatorClient, body: bytes) -> bool:
    """POST ``body`` to the client's webhook (http(s) only, checked by the caller); whether
    it was delivered."""
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by the caller
        client.webhook_url, data=body, method="POST",
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            return True
    except OSError as exc:
        logger.warning("deletion webhook for %s failed: %s", client.operator.code,
                       type(exc).__name__)
        return False
