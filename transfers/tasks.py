"""Celery tasks of transfers: thin, by id, idempotent."""

from __future__ import annotations

import json
import logging
import urllib.request

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(name="transfers.tasks.export_release", acks_late=True)
def export_release(release_id: int) -> None:
    """Build one release (queue ``exports``). Safe to run twice: a ready release is left as
    it is, and a half-built one (worker killed) is rebuilt from scratch."""
    from transfers.services import release_export, release_fail

    try:
        release_export(release_id=release_id)
    except Exception as exc:
        release_fail(release_id=release_id, error=f"{type(exc).__name__}: {exc}")
        raise


@shared_task(name="transfers.tasks.deliver_deletion_webhooks")
def deliver_deletion_webhooks(plan_id: int) -> int:
    """POST unsent deletion notices to the recipient's webhook, if it configured one.
    The feed stays the source of truth: a failed delivery is simply tried next time."""
    from transfers.models import DeletionNotice, OperatorClient

    sent = 0
    notices = DeletionNotice.objects.filter(plan_id=plan_id, webhook_sent_at__isnull=True)
    for client in OperatorClient.objects.filter(
            operator_id__in=notices.values("recipient_id"), active=True).exclude(webhook_url=""):
        batch = list(notices.filter(recipient=client.operator).select_related("subject")[:500])
        if not batch:
            continue
        body = json.dumps({"deletions": [
            {"id": n.pk, "subject": n.subject.public_id, "fields": n.fields,
             "reason": n.reason} for n in batch]}).encode()
        if not client.webhook_url.startswith(("https://", "http://")):
            continue
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            client.webhook_url, data=body, method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310
                pass
        except OSError as exc:
            logger.warning("deletion webhook for %s failed: %s", client.operator.code,
                           type(exc).__name__)
            continue
        DeletionNotice.objects.filter(pk__in=[n.pk for n in batch]).update(
            webhook_sent_at=timezone.now())
        sent += len(batch)
    return sent


@shared_task(name="transfers.tasks.detect_deletions")
def detect_deletions() -> int:
    """Every minute (Celery beat): look for deletions owed on every plan that has released
    data, so that notices (and webhooks) do not wait for the recipient to poll the feed.
    Returns how many notices it created. A plan whose search fails does not stop the others;
    the task then fails, naming the plans, once all were tried."""
    from transfers.selectors import plans_with_releases
    from transfers.services import deletions_detect

    created, failed = 0, []
    for plan in plans_with_releases():
        try:
            created += len(deletions_detect(plan=plan))
        except Exception:
            logger.exception("deletion search failed for plan %s", plan.pk)
            failed.append(plan.pk)
    if failed:
        raise RuntimeError(f"deletion search failed for plans {failed}")
    return created
