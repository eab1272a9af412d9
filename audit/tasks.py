"""Celery task that seals the audit log (queue ``audit``)."""

from __future__ import annotations

from celery import shared_task

from audit.sealing import LogStateLost, audit_checkpoint_later, audit_log_seal


# A lost state row is not a passing failure: retrying would only repeat the critical log.
@shared_task(name="audit.tasks.seal_audit_log", ignore_result=True, acks_late=True,
             autoretry_for=(Exception,), dont_autoretry_for=(LogStateLost,),
             retry_backoff=True, max_retries=5)
def seal_audit_log() -> int:
    result = audit_log_seal()
    if result.checkpoint_due_in is not None:
        audit_checkpoint_later(result.checkpoint_due_in)
    return result.sealed
