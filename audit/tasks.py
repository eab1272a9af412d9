"""Celery tasks of the audit log (queue ``audit``): sealing, and asking witnesses to co-sign.

Queued through `core.tasks.enqueue_on_commit` by name (audit.sealing, audit.witnessing):

- ``seal_audit_log``: a writer's request with workers (coalesced per 0.3 s window), and
  beat's safety net every 10 s;
- ``seal_for_due_checkpoint``: the same run, queued for when an owed checkpoint falls due
  (coalesced over that delay: its own name keeps it apart from the writers' window);
- ``seal_after_commit``: the embedded default's sealing, in the writer's process right after
  its commit; never raises;
- ``witness_checkpoint``: one witness asked to co-sign, retried with backoff.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.core.cache import cache

from audit.sealing import LogStateLost, audit_checkpoint_later, audit_log_seal, audit_seal_soon
from core.tasks import enqueue_on_commit

logger = logging.getLogger(__name__)

WITNESS_TASK = "audit.tasks.witness_checkpoint"


class SealingTask(Task):
    """Sending a sealing run never raises (a broker that is down, say): it is sent after the
    writer's commit, and a lost request is made up by the next writer's or by beat's."""

    def apply_async(self, *args, **kwargs):
        try:
            return super().apply_async(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a sealing failure must never fail the writer
            logger.exception("audit sealing deferred to the next run")
            return None


def _seal_on_a_worker() -> int:
    result = audit_log_seal()
    if result.checkpoint_due_in is not None:
        audit_checkpoint_later(result.checkpoint_due_in)
    if result.checkpoint is None:
        # The beat safety net: a witness task lost with its worker is asked again here.
        from audit.witnessing import witnesses_behind

        for name in witnesses_behind():
            enqueue_on_commit(WITNESS_TASK, name)
    return result.sealed


# A lost state row is not a passing failure: retrying would only repeat the critical log.
@shared_task(name="audit.tasks.seal_audit_log", base=SealingTask, ignore_result=True,
             acks_late=True, autoretry_for=(Exception,), dont_autoretry_for=(LogStateLost,),
             retry_backoff=True, max_retries=5)
def seal_audit_log() -> int:
    return _seal_on_a_worker()


@shared_task(name="audit.tasks.seal_for_due_checkpoint", base=SealingTask, ignore_result=True,
             acks_late=True, autoretry_for=(Exception,), dont_autoretry_for=(LogStateLost,),
             retry_backoff=True, max_retries=5)
def seal_for_due_checkpoint() -> int:
    return _seal_on_a_worker()


@shared_task(name="audit.tasks.seal_after_commit", ignore_result=True)
def seal_after_commit() -> None:
    """Run in-process by the writer's commit (AUDIT_SEAL_INLINE); never raises."""
    audit_seal_soon()


@shared_task(bind=True, name=WITNESS_TASK, ignore_result=True, acks_late=True,
             max_retries=None)
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
