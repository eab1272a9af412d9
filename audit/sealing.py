"""Sealing: give written events their place in the log, hash them, sign checkpoints.

Writers only INSERT (inside their own business transaction) and never wait on the log's
order. Afterwards one sealer at a time locks the state row, takes the unsealed events in id
order, gives them the next gapless ``seq`` numbers, hashes them, appends them to the Merkle
tree through its right frontier (O(log n) per entry) and, at most every
``AUDIT_CHECKPOINT_INTERVAL`` seconds, signs a checkpoint. An event committed late (a
smaller id than one already sealed) simply gets a later ``seq``: order is the order of
sealing, and it never changes afterwards.

Once a checkpoint has committed, the witnesses are asked to co-sign it (audit.witnessing);
that never happens inside the sealing transaction and never fails it.

The state row is the only memory of where the log ends. If it is missing or behind the
sealed entries, the sealer refuses to run (``LogStateLost``) rather than start a second
chain at seq 0; the database refuses to delete it or wind it back (migration 0006).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from audit import signing
from audit.bulk import log_state_locked, seals_write
from audit.chain import canonical_entry, entry_hash
from audit.checkpoints import sign_checkpoint
from audit.merkle import Frontier, leaf_hash
from audit.models import AuditEvent, Checkpoint, LogState
from core.tasks import enqueue_on_commit

logger = logging.getLogger(__name__)

# Writers in this window share one sealing task, which runs once the window has closed.
SEAL_DEBOUNCE_SECONDS = 0.3
# The tasks (audit.tasks), by name: that module imports this one.
SEAL_TASK = "audit.tasks.seal_audit_log"
SEAL_HERE_TASK = "audit.tasks.seal_after_commit"
CHECKPOINT_DUE_TASK = "audit.tasks.seal_for_due_checkpoint"
ROW_FIELDS = ("id", "created_at", "actor_type", "actor_id", "action", "target_type",
              "target_id", "details", "request_id")


class LogStateLost(RuntimeError):
    """The state row is missing or behind the log: sealing now would fork it, so it stops."""


@dataclass(frozen=True)
class SealResult:
    sealed: int
    size: int
    checkpoint: Checkpoint | None
    # Seconds until a checkpoint covering everything sealed is due, or None if none is owed.
    checkpoint_due_in: float | None


def _locked_state() -> LogState:
    _, created = LogState.objects.get_or_create(pk=LogState.SINGLETON_ID)
    state = log_state_locked()  # audit.bulk: the lock that serialises sealers
    _refuse_to_fork(state, created=created)
    return state


def _refuse_to_fork(state: LogState, *, created: bool) -> None:
    """Raise LogStateLost when sealed entries or signed checkpoints go past the state.

    Two index probes per sealing transaction. The caller's transaction rolls back, so a row
    just created at size 0 is not kept: every later run refuses too, until it is restored.
    """
    last_sealed = (AuditEvent.objects.filter(seq__gte=state.size).order_by("-seq")
                   .values_list("seq", flat=True).first())
    last_signed = (Checkpoint.objects.filter(size__gt=state.size).order_by("-size")
                   .values_list("size", flat=True).first())
    if last_sealed is None and last_signed is None:
        return
    says = ("the audit log state row is missing" if created
            else f"the audit log state says {state.size} entries")
    found = (f"entries up to seq {last_sealed} are sealed" if last_sealed is not None
             else f"a checkpoint signs {last_signed} entries")
    message = (f"{says}, but {found}: sealing stops rather than start a second chain. "
               "Restore the state row from the entries (docs/audit.md, 'The state row').")
    logger.critical(message)
    raise LogStateLost(message)


def audit_log_seal(*, force_checkpoint: bool = False, batch_size: int = 5000,
                   now: datetime | None = None) -> SealResult:
    """Seal every unsealed event (in batches) and sign a checkpoint if one is due.

    ``force_checkpoint`` signs one covering everything sealed regardless of the interval
    (before an export or a verification).
    """
    total = 0
    while True:
        with transaction.atomic():
            state = _locked_state()
            sealed = _seal_batch(state, batch_size=batch_size)
            total += sealed
            last_batch = sealed < batch_size
            checkpoint, due_in = None, None
            if last_batch:
                checkpoint, due_in = _checkpoint_if_due(state, force=force_checkpoint,
                                                        now=now or timezone.now())
            state.save()
        if last_batch:
            return SealResult(sealed=total, size=state.size, checkpoint=checkpoint,
                              checkpoint_due_in=due_in)


def _seal_batch(state: LogState, *, batch_size: int) -> int:
    rows = list(AuditEvent.objects.filter(seq__isnull=True).order_by("id")
                .values_list(*ROW_FIELDS)[:batch_size])
    if not rows:
        return 0
    frontier = Frontier.from_hex(state.size, state.frontier)
    sealed_at = timezone.now()
    updates = []
    for (pk, created_at, actor_type, actor_id, action, target_type, target_id, details,
         request_id) in rows:
        seq = frontier.size
        digest = entry_hash(canonical_entry(
            seq=seq, created_at=created_at, actor_type=actor_type, actor_id=actor_id,
            action=action, target_type=target_type, target_id=target_id, details=details,
            request_id=request_id))
        frontier.append(leaf_hash(digest))
        updates.append((pk, seq, digest.hex()))
    seals_write(updates, sealed_at)  # audit.bulk: one statement on PostgreSQL
    state.size = frontier.size
    state.frontier = frontier.to_hex()
    state.root_hash = frontier.root().hex()
    state.sealed_at = sealed_at
    return len(rows)


def _checkpoint_if_due(state: LogState, *, force: bool,
                       now: datetime) -> tuple[Checkpoint | None, float | None]:
    if state.size == state.checkpoint_size and (state.size or not force):
        return None, None
    if state.size == 0 and Checkpoint.objects.filter(size=0).exists():
        return None, None
    interval = timedelta(seconds=settings.AUDIT_CHECKPOINT_INTERVAL)
    if not force and state.checkpoint_at and now - state.checkpoint_at < interval:
        return None, (state.checkpoint_at + interval - now).total_seconds()
    checkpoint = checkpoint_sign(size=state.size, root_hash=bytes.fromhex(state.root_hash)
                                 if state.root_hash else Frontier().root(), now=now)
    state.checkpoint_size = state.size
    state.checkpoint_at = now
    transaction.on_commit(_ask_witnesses)  # once the checkpoint exists for everyone
    return checkpoint, None


def checkpoint_sign(*, size: int, root_hash: bytes, now: datetime | None = None) -> Checkpoint:
    """Sign and store a checkpoint for the tree of ``size`` entries (sealer's lock held)."""
    note = sign_checkpoint(origin=settings.AUDIT_LOG_ORIGIN, size=size, root_hash=root_hash,
                           public_key=signing.service_public_key_bytes(),
                           sign=signing.service_sign)
    return Checkpoint.objects.create(size=size, root_hash=root_hash.hex(), note=note,
                                     key_id=signing.service_key_id(),
                                     created_at=now or timezone.now())


def _ask_witnesses() -> None:
    # Never raises, and never holds up the log: see audit.witnessing.
    from audit.witnessing import witnesses_ask_soon

    witnesses_ask_soon()


def audit_seal_on_commit(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Ask for sealing once the caller's transaction commits (audit_record, every event).

    Through `core.tasks.enqueue_on_commit`, once per transaction however many events it
    records, and never if it rolls back:

    - ``AUDIT_SEAL_INLINE`` (the embedded default): `audit_seal_soon` runs in this process
      right after the commit (task ``SEAL_HERE_TASK``, in-process);
    - with workers: one ``SEAL_TASK`` per ``SEAL_DEBOUNCE_SECONDS`` window across processes
      (coalesced), delayed until the window closes so that it also seals the events of every
      writer that found it queued; beat is the safety net. Sending it never raises
      (audit.tasks.SealingTask).

    Either way nothing after the commit can fail the writer, which has committed.
    """
    if settings.AUDIT_SEAL_INLINE:
        enqueue_on_commit(SEAL_HERE_TASK, once_per_transaction=True, in_process=True,
                          using=using)
    else:
        enqueue_on_commit(SEAL_TASK, countdown=SEAL_DEBOUNCE_SECONDS, coalesce=True,
                          once_per_transaction=True, in_process=False, using=using)


def audit_seal_soon() -> None:
    """Seal here and now what writers committed. Never raises: the writer has committed.

    A failure is logged and left for the next commit or beat's run; a lost state row has
    already been logged as critical where it was found.
    """
    try:
        audit_log_seal()
    except LogStateLost:
        pass  # retrying cannot help until someone restores the state row
    except Exception:  # noqa: BLE001 - a sealing failure must never fail the writer
        logger.exception("audit sealing deferred to the next run")


def audit_checkpoint_later(due_in: float) -> None:
    """Queue one sealing run for when the owed checkpoint falls due (worker side), coalesced
    over that delay across processes."""
    enqueue_on_commit(CHECKPOINT_DUE_TASK, countdown=due_in, coalesce=True,
                      in_process=False)
