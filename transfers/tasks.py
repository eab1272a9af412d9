"""Celery tasks of transfers: thin, by id, idempotent."""

from __future__ import annotations

import logging

from celery import shared_task

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
    """POST the plan's unsent deletion notices to the recipients' webhooks
    (`transfers.services.deletion_webhooks_deliver`). No retries of its own: a failed
    delivery stays unsent and goes with the next one; the feed stays the source of truth."""
    from transfers.services import deletion_webhooks_deliver

    return deletion_webhooks_deliver(plan_id=plan_id)


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
