"""Re-checking the whole log from the database: every entry hash, every signed root.

Rows are streamed as tuples (no ORM objects) and the tree is rebuilt through a frontier, so
memory stays flat and the cost is one canonical JSON encoding and two SHA-256 per entry.
A log whose sealer has stopped is reported too: the state row missing, or events left
unsealed longer than a bound.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from json import JSONDecoder, loads

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from audit import signing
from audit.bulk import sealed_entries
from audit.chain import canonical_entry_fast as canonical
from audit.chain import format_timestamp
from audit.checkpoints import CheckpointError, verify_checkpoint
from audit.merkle import Frontier
from audit.models import AuditEvent, Checkpoint, LogState, WitnessCosignature
from audit.witness.note import (
    Note,
    NoteError,
    VerifierKey,
    cosignatures_by,
    parse_signature_line,
)


class AuditLogCorrupt(Exception):
    """The log failed verification; the message names the first bad entry or checkpoint."""

    def __init__(self, message: str, *, seq: int | None = None,
                 checkpoint_size: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq
        self.checkpoint_size = checkpoint_size


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    checkpoints: int
    unsealed: int
    root_hash: str


def audit_log_verify(*, on_progress: Callable[[int], None] | None = None,
                     chunk_size: int = 20_000, max_unsealed_seconds: float | None = None,
                     now: datetime | None = None) -> VerifyReport:
    """Verify the log or raise AuditLogCorrupt naming the first problem found.

    With ``max_unsealed_seconds``, events recorded longer ago than that and still unsealed
    are a failure too: they are in no checkpoint, so nothing proves they were not altered.
    """
    origin = settings.AUDIT_LOG_ORIGIN
    public_key = signing.service_public_key_bytes()
    checkpoints = list(Checkpoint.objects.order_by("size")
                       .values_list("size", "root_hash", "note"))
    for size, root_hex, note in checkpoints:
        try:
            parsed = verify_checkpoint(note, origin=origin, public_key=public_key)
        except CheckpointError as exc:
            raise AuditLogCorrupt(f"checkpoint {size}: {exc}", checkpoint_size=size) from exc
        if parsed.size != size or parsed.root_hash.hex() != root_hex:
            raise AuditLogCorrupt(f"checkpoint {size}: its columns differ from its signed note",
                                  checkpoint_size=size)

    # Read before the entries: sealing goes on while a live log is verified, so the state
    # read after them may count more (see `_check_state`).
    size_before = _state_size()
    frontier = Frontier()
    pending = [(size, bytes.fromhex(root)) for size, root, _ in checkpoints]
    pending.reverse()  # pop() from the end gives the smallest size
    _check_due(frontier, pending)
    rows = sealed_entries(chunk_size)  # audit.bulk: tuples, streamed, read ahead if it can
    sha256 = hashlib.sha256
    scan = JSONDecoder().scan_once
    hashes = frontier.hashes  # the frontier's append, inlined: this loop is the hot path
    expected = 0
    next_checkpoint = pending[-1][0] if pending else -1
    for (seq, created_at, actor_type, actor_id, action, target_type, target_id, details,
         request_id, stored_hash) in rows:
        if seq != expected:
            if seq > expected:
                raise AuditLogCorrupt(f"entry {expected} is missing (next is {seq})",
                                      seq=expected)
            raise AuditLogCorrupt(f"entry {seq} appears twice", seq=seq)
        if created_at.__class__ is not str:
            created_at = format_timestamp(created_at)
        if details.__class__ is str:
            # jsonb's text output is one JSON value with no surrounding space: the decoder's
            # scanner alone reads it three times faster than loads(); anything else falls back.
            text = details
            try:
                details, end = scan(text, 0)
            except StopIteration:
                end = -1
            if end != len(text):
                details = loads(text)
        digest = sha256(canonical(seq, created_at, actor_type, actor_id, action, target_type,
                                  target_id, details, request_id)).digest()
        if digest.hex() != stored_hash:
            raise AuditLogCorrupt(f"entry {seq}: its content does not match its hash", seq=seq)
        h = sha256(b"\x00" + digest).digest()
        n = expected
        while n & 1:
            h = sha256(b"\x01" + hashes.pop() + h).digest()
            n >>= 1
        hashes.append(h)
        expected += 1
        frontier.size = expected
        if expected == next_checkpoint:
            _check_due(frontier, pending)
            next_checkpoint = pending[-1][0] if pending else -1
        if on_progress is not None and expected % chunk_size == 0:
            on_progress(chunk_size)
    done_since_report = expected % chunk_size
    if on_progress is not None and done_since_report:
        on_progress(done_since_report)
    if pending:
        size = pending[-1][0]
        raise AuditLogCorrupt(
            f"checkpoint {size} covers entries up to {size - 1}, but the log ends at "
            f"{frontier.size - 1}: entries were removed", checkpoint_size=size)
    _check_state(frontier.size, size_before=size_before, has_checkpoints=bool(checkpoints))
    unsealed = _check_sealing_keeps_up(max_unsealed_seconds, now or timezone.now())
    return VerifyReport(entries=frontier.size, checkpoints=len(checkpoints),
                        unsealed=unsealed, root_hash=frontier.root().hex())


def _state_size() -> int | None:
    state = LogState.objects.filter(pk=LogState.SINGLETON_ID).first()
    return None if state is None else state.size


def _check_state(entries: int, *, size_before: int | None, has_checkpoints: bool) -> None:
    """The sealed entries read must be those the log state counts. Entries and state change
    together (one sealing transaction) and only grow, so a log sealed further while it was
    read holds at least what the state counted before the read and at most what it counts
    after; anything else is entries removed, or added without sealing."""
    size_after = _state_size()
    if size_after is None:
        if entries or has_checkpoints:
            # The sealer refuses to run without it (audit.sealing.LogStateLost).
            raise AuditLogCorrupt(f"the log state row is missing, but the table holds "
                                  f"{entries} sealed entries: sealing has stopped",
                                  seq=entries)
        return
    if entries > size_after:
        raise AuditLogCorrupt(f"the log state says {size_after} entries, the table holds "
                              f"{entries}", seq=size_after)
    if size_before is not None and entries < size_before:
        raise AuditLogCorrupt(f"the log state said {size_before} entries when verification "
                              f"began, the table holds {entries}", seq=entries)


def _check_sealing_keeps_up(max_unsealed_seconds: float | None, now: datetime) -> int:
    """Return how many events wait to be sealed; raise if any waited past the bound.

    The wait is counted from ``created_at``, the writer's clock when it recorded the event,
    so a writer's transaction held open longer than the bound counts as waiting too.
    """
    waiting = AuditEvent.objects.filter(seq__isnull=True).aggregate(
        count=Count("id"), oldest=Min("created_at"))
    if max_unsealed_seconds is None or waiting["oldest"] is None:
        return waiting["count"]
    deadline = now - timedelta(seconds=max_unsealed_seconds)
    overdue = AuditEvent.objects.filter(seq__isnull=True, created_at__lt=deadline).count()
    if overdue:
        raise AuditLogCorrupt(
            f"{overdue} events have waited longer than {max_unsealed_seconds:g} s to be "
            f"sealed (the oldest was recorded at {format_timestamp(waiting['oldest'])}): "
            "the sealer is stopped or failing; see its log (audit.sealing)")
    return waiting["count"]


def _check_due(frontier: Frontier, pending: list[tuple[int, bytes]]) -> None:
    while pending and pending[-1][0] == frontier.size:
        size, root = pending.pop()
        if frontier.root() != root:
            raise AuditLogCorrupt(
                f"checkpoint {size}: the entries before it do not give its signed root "
                "(an entry was edited, inserted, removed or reordered)", checkpoint_size=size)


@dataclass(frozen=True)
class WitnessReport:
    cosignatures: int  # stored cosignatures of the given witnesses, each verified
    quorum: int
    witnessed_size: int | None  # the newest checkpoint with a quorum of them


def audit_cosignatures_verify(*, witnesses: list[VerifierKey], quorum: int,
                              max_wait_seconds: float | None = None,
                              now: datetime | None = None) -> WitnessReport:
    """Check the witnesses' stored cosignatures and that they keep up with the log.

    Every stored cosignature by one of ``witnesses`` (same name and key id) must verify over
    its checkpoint; one that does not was forged or altered. With a ``quorum``, a checkpoint
    that still lacks ``quorum`` of them after ``max_wait_seconds`` is a failure: past that
    point nothing shows the witnesses saw this history. Checkpoints newer than the bound
    are still being co-signed.
    """
    keys = {key.name: key for key in witnesses}
    signers: dict[int, set[str]] = {}
    count = 0
    rows = (WitnessCosignature.objects.filter(witness__in=keys).order_by("checkpoint__size")
            .values_list("checkpoint__size", "checkpoint__note", "witness", "key_id", "line")
            .iterator(chunk_size=5_000))
    for size, note, witness, key_id, line in rows:
        key = keys[witness]
        if key_id != key.key_id.hex():
            continue  # made with another key of that name: not this policy's witness
        try:
            signature = parse_signature_line(line)
        except NoteError as exc:
            raise AuditLogCorrupt(f"checkpoint {size}: the cosignature of witness {witness} "
                                  f"is not a signature line ({exc})",
                                  checkpoint_size=size) from exc
        text = note.partition("\n\n")[0].encode() + b"\n"
        good, _ = cosignatures_by(Note(text=text, signatures=(signature,)), key)
        if not good:
            raise AuditLogCorrupt(f"checkpoint {size}: the cosignature of witness {witness} "
                                  "does not verify (forged or altered)", checkpoint_size=size)
        signers.setdefault(size, set()).add(witness)
        count += 1
    with_quorum = [size for size, names in signers.items() if len(names) >= quorum]
    witnessed = max(with_quorum) if with_quorum else None
    if quorum and max_wait_seconds is not None:
        deadline = (now or timezone.now()) - timedelta(seconds=max_wait_seconds)
        late = (Checkpoint.objects.filter(created_at__lt=deadline)
                .exclude(size__lte=witnessed if witnessed is not None else -1)
                .order_by("-size").values_list("size", "created_at").first())
        if late is not None:
            size, created_at = late
            raise AuditLogCorrupt(
                f"checkpoint {size} (signed at {format_timestamp(created_at)}) has "
                f"{len(signers.get(size, ()))} of the {quorum} witness cosignatures required "
                f"after more than {max_wait_seconds:g} s: the witnesses are down or refuse "
                "(see the dashboard); the newest checkpoint with a quorum is "
                f"{witnessed if witnessed is not None else 'none'}", checkpoint_size=size)
    return WitnessReport(cosignatures=count, quorum=quorum, witnessed_size=witnessed)
