"""Queueing a Celery task: the one way every app does it, `enqueue_on_commit`.

Contract:

- The task is queued after the caller's transaction commits, and never if it rolls back
  (`transaction.on_commit`); outside a transaction, at once.
- With a broker it goes through ``apply_async`` (with ``countdown``). Without one
  (``CELERY_TASK_ALWAYS_EAGER``, the embedded default) it runs right here with
  ``Task.apply(throw=True)``: Celery's eager ``delay`` would still open a producer pool on the
  unset, hence default, broker URL and keep it. ``in_process`` overrides that choice for one
  call (the audit log seals in-process when ``AUDIT_SEAL_INLINE`` says so). In-process runs
  ignore ``countdown``.
- ``once_per_transaction``: the same task with the same arguments asked for several times in
  one transaction is queued once (a bulk change recording 10,000 audit events asks for one
  sealing run). A request made inside a savepoint that rolls back is dropped with it, and a
  later request in the same transaction is then queued again.
- ``coalesce``: across processes, at most one queued run of the same task and arguments per
  ``countdown`` window (a cache flag, ``cache.add``, kept for the window; this process also
  remembers its own flag so that it does not ask the cache again within the window). The run
  waits for the window to close, so it also covers every caller that found the flag set.

`tests/core/test_tasks.py` holds this contract to Django's and Celery's behaviour, including
the one private attribute read here (``connection.run_on_commit``, for
``once_per_transaction``): an upgrade that changes it fails that test, not production.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from celery import Task, current_app
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction

# When this process last set each coalescing flag (monotonic seconds).
_coalesced_at: dict[str, float] = {}


@dataclass(frozen=True)
class _Enqueue:
    """One queued request, run by ``transaction.on_commit``; equal requests compare equal."""

    task_name: str
    args: tuple
    countdown: float | None = None
    coalesce: bool = False
    in_process: bool | None = None
    kwargs: tuple = field(default=())

    def __call__(self) -> None:
        task = _task(self.task_name)
        kwargs = dict(self.kwargs)
        in_process = (settings.CELERY_TASK_ALWAYS_EAGER if self.in_process is None
                      else self.in_process)
        if in_process:
            task.apply(args=self.args, kwargs=kwargs, throw=True)
            return
        if self.coalesce and self._already_queued():
            return
        task.apply_async(args=self.args, kwargs=kwargs, countdown=self.countdown)

    def _already_queued(self) -> bool:
        window = max(self.countdown or 0.0, 0.05)
        key = f"enqueue:{self.task_name}:{self.args!r}"
        now = time.monotonic()
        if now - _coalesced_at.get(key, float("-inf")) < window:
            return True
        if not cache.add(key, 1, timeout=window):
            return True
        _coalesced_at[key] = now
        return False


def enqueue_on_commit(task: Task | str, *args, countdown: float | None = None,
                      coalesce: bool = False, once_per_transaction: bool = False,
                      in_process: bool | None = None, using: str = DEFAULT_DB_ALIAS,
                      **kwargs) -> None:
    """Queue ``task`` (a task or its registered name) with ``args`` once this transaction
    commits; see the module's contract."""
    if coalesce and not countdown:
        raise ValueError("coalesce needs a countdown: the window it coalesces over")
    request = _Enqueue(task_name=task if isinstance(task, str) else task.name, args=args,
                       countdown=countdown, coalesce=coalesce, in_process=in_process,
                       kwargs=tuple(sorted(kwargs.items())))
    if once_per_transaction and _pending(request, using):
        return
    transaction.on_commit(request, using=using)


def _pending(request: _Enqueue, using: str) -> bool:
    """Whether an equal request already waits for this transaction's commit.

    Any such request covers this one: Django drops a callback only when a savepoint it was
    registered under rolls back, and every savepoint still open then is open now, so that
    rollback would drop this request too.
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        return False
    return any(func == request for _sids, func, _robust in connection.run_on_commit)


def _task(name: str) -> Task:
    return current_app.tasks[name]
