"""Celery tasks of the audit log (queue ``audit``): sealing, and asking witnesses to co-sign."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from audit.sealing import LogStateLost, audit_checkpoint_later, audit_log_seal


# A lost state row is not a passing failure: retrying would only repeat the critical log.
@shared_task(name="audit.tasks.seal_audit_log", ignore_result=True, acks_late=True,
             autoretry_for=(Exception,), dont_autoretry_for=(LogStateLost,),
             retry_backoff=True, max_retries=5)
def seal_audit_log() -> int:
    result = audit_log_seal()
    if result.checkpoint_due_in is not None:
        audit_checkpoint_later(result.checkpoint_due_in)
    if result.checkpoint is None:
        # The beat safety net: a witness task lost with its worker is asked again here.
        from audit.witnessing import witnesses_behind

        for name in witnesses_behind():
            witness_checkpoint.apply_async(args=[name])
    return result.sealed


@shared_task(bind=True, name="audit.tasks.witness_checkpoint", ignore_result=True,
             acks_late=True, max_retries=None)
def witness_checkpoint(self, witness_name: str) -> str:
    """Ask one witness to co-sign the newest checkpoint; retry with backoff until it does.

    A retry owns the witness (a cache flag) so that the checkpoints signed meanwhile do not
    start more retry chains; each attempt sends the newest checkpoint anyway.
    """
    from audit.witnessing import RETRYING_FLAG, configured_witness, witness_cosignature_request

    witness = configured_witness(witness_name)
    if witness is None:
        return "unknown"
    flag = RETRYING_FLAG.format(name=witness_name)
    retrying = bool(self.request.retries)
    if not retrying and cache.get(flag):
        return "deferred"
    outcome = witness_cosignature_request(witness=witness, respect_backoff=not retrying)
    if outcome.status == "failed":
        if self.request.is_eager:
            # In-process, a retry would run at once and again without end: the next
            # checkpoint asks again once the backoff has passed.
            return outcome.status
        cache.set(flag, 1, timeout=outcome.retry_in + 60)
        raise self.retry(countdown=outcome.retry_in)
    if retrying:
        cache.delete(flag)
    return outcome.status
