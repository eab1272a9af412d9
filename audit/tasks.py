"""Celery task that seals the audit log (queue ``audit``)."""

from __future__ import annotations

from celery import shared_task

from audit.sealing import audit_checkpoint_later, audit_log_seal


@shared_task(name="audit.tasks.seal_audit_log", ignore_result=True, acks_late=True,
             autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def seal_audit_log() -> int:
    result = audit_log_seal()
    if result.checkpoint_due_in is not None:
        audit_checkpoint_later(result.checkpoint_due_in)
    return result.sealed
