"""Reads of the audit log for other apps: witnessed checkpoints, and how the witnesses keep up."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AuditEvent, Checkpoint, WitnessCosignature, WitnessState

# The dashboard turns a witness red when a checkpoint has waited this long for its
# cosignature: the witness is down, unreachable or refusing (its last error says which).
WITNESS_ALERT_AFTER_SECONDS = 300


def checkpoint_note_cosigned(checkpoint: Checkpoint) -> str:
    """The checkpoint's note with every stored cosignature line after the log's signature."""
    lines = (WitnessCosignature.objects.filter(checkpoint=checkpoint)
             .order_by("witness", "key_id").values_list("line", flat=True))
    return checkpoint.note + "".join(lines)


def _configured_key_ids() -> dict[str, str]:
    """Witness name -> the hex key id of its configured key (settings.AUDIT_WITNESSES)."""
    from audit.witness.note import parse_verifier_key

    return {w["name"]: parse_verifier_key(w["vkey"]).key_id.hex()
            for w in settings.AUDIT_WITNESSES}


def _witnessed(keys: dict[str, str]) -> tuple[Checkpoint, list[str]] | None:
    """The newest checkpoint with a cosignature by a configured witness and key, and those
    witnesses. Checkpoints are created in increasing size only (the sealer, under its lock;
    the table is append-only), so the highest checkpoint id is the largest size: the
    cosignatures' unique index (checkpoint, witness, key_id) answers from its end, however
    long the log."""
    if not keys:
        return None
    rows = (WitnessCosignature.objects.filter(witness__in=keys).order_by("-checkpoint_id")
            .values_list("checkpoint_id", "witness", "key_id").iterator(chunk_size=100))
    newest, names = None, set()
    for checkpoint_id, witness, key_id in rows:
        if newest is not None and checkpoint_id != newest:
            break
        if keys[witness] == key_id:  # made with the key configured now
            newest = checkpoint_id
            names.add(witness)
    if newest is None:
        return None
    return Checkpoint.objects.get(pk=newest), sorted(names)


def latest_witnessed_checkpoint() -> dict | None:
    """The newest checkpoint the configured witnesses have co-signed, for a document (a
    consent receipt, a release manifest) to name the history the commission saw when it was
    made: ``{"size", "root_hash", "witnesses"}``, the root in base64 as in the note, the
    witnesses by name (those of AUDIT_WITNESSES whose cosignature with their configured key
    is stored). None when none has co-signed anything: a document then claims no witness.

    The document's own event is usually not in it yet (it is sealed after the document's
    transaction commits); a later checkpoint covers it, and is consistent with this one.
    A few index reads, whatever the log's length.
    """
    found = _witnessed(_configured_key_ids())
    if found is None:
        return None
    checkpoint, names = found
    return {"size": checkpoint.size,
            "root_hash": base64.b64encode(bytes.fromhex(checkpoint.root_hash)).decode(),
            "witnesses": names}


def witnessed_checkpoint_covering(*, targets: Sequence[tuple[str, str]],
                                  **details: str) -> dict | None:
    """The first checkpoint co-signed by a configured witness (with its configured key) that
    covers every event recorded on any of ``targets`` (``(target_type, target_id)`` pairs:
    events of different ages may name one thing differently, the log being append-only)
    whose details hold ``details`` (e.g. ``receipt=<id>``): ``{"size", "root_hash",
    "witnesses"}`` as latest_witnessed_checkpoint gives it. None while there is no such
    event, one of them is not sealed yet, or no witness has co-signed a checkpoint past it.

    For a document built on demand from immutable records (a consent receipt): the answer
    never changes once it is given (checkpoints and cosignatures are append-only), unlike
    the newest witnessed checkpoint, which moves with the log.
    """
    if not targets:
        raise ValueError("witnessed_checkpoint_covering needs at least one target")
    keys = _configured_key_ids()
    if not keys:
        return None
    named = models.Q()
    for target_type, target_id in targets:
        named |= models.Q(target_type=target_type, target_id=target_id)
    events = AuditEvent.objects.filter(named, **{f"details__{k}": v
                                                 for k, v in details.items()})
    seqs = list(events.values_list("seq", flat=True))
    if not seqs or None in seqs:
        return None
    pairs = models.Q()
    for name, key_id in keys.items():
        pairs |= models.Q(witness=name, key_id=key_id)
    first = (WitnessCosignature.objects.filter(pairs, checkpoint__size__gt=max(seqs))
             .order_by("checkpoint__size").values_list("checkpoint_id", flat=True).first())
    if first is None:
        return None
    checkpoint = Checkpoint.objects.get(pk=first)
    names = sorted(set(WitnessCosignature.objects.filter(pairs, checkpoint=checkpoint)
                       .values_list("witness", flat=True)))
    return {"size": checkpoint.size,
            "root_hash": base64.b64encode(bytes.fromhex(checkpoint.root_hash)).decode(),
            "witnesses": names}


def newest_witnessed_checkpoint() -> dict | None:
    """The newest checkpoint a configured witness co-signed, for documents that cite the log.

    ``{"size", "root", "witnessed_by"}`` with the root in base64 as in the note. With no
    cosignature yet it names the newest checkpoint with an empty ``witnessed_by``; None on
    an empty log. (The release manifest's form; see latest_witnessed_checkpoint.)
    """
    witnessed = latest_witnessed_checkpoint()
    if witnessed is not None:
        return {"size": witnessed["size"], "root": witnessed["root_hash"],
                "witnessed_by": witnessed["witnesses"]}
    checkpoint = Checkpoint.objects.order_by("-size").first()
    if checkpoint is None:
        return None
    return {"size": checkpoint.size,
            "root": base64.b64encode(bytes.fromhex(checkpoint.root_hash)).decode(),
            "witnessed_by": []}


@dataclass(frozen=True)
class WitnessStatus:
    name: str
    size: int  # of the newest checkpoint it co-signed (0: none yet)
    cosigned_at: datetime | None
    age_seconds: float | None
    waiting_since: datetime | None  # the oldest checkpoint it has not co-signed
    failures: int
    last_error: str
    alert: bool
    alert_after_seconds: int


def witness_overview(*, now: datetime | None = None) -> list[WitnessStatus]:
    """Per configured witness: its newest cosignature, its age, and whether it is behind.

    Red (``alert``) when a checkpoint newer than the one it co-signed was signed more than
    WITNESS_ALERT_AFTER_SECONDS ago; an idle log whose newest checkpoint is co-signed stays
    green however old that is. Two queries per witness.
    """
    now = now or timezone.now()
    names = [w["name"] for w in settings.AUDIT_WITNESSES]
    states = {s.name: s for s in WitnessState.objects.filter(name__in=names)}
    rows = []
    for name in names:
        state = states.get(name)
        size = state.size if state else 0
        waiting = (Checkpoint.objects.filter(size__gt=size).order_by("size")
                   .values_list("created_at", flat=True).first())
        cosigned_at = state.cosigned_at if state else None
        rows.append(WitnessStatus(
            name=name, size=size, cosigned_at=cosigned_at,
            age_seconds=(now - cosigned_at).total_seconds() if cosigned_at else None,
            waiting_since=waiting, failures=state.failures if state else 0,
            last_error=state.last_error if state else "",
            alert=waiting is not None
            and (now - waiting).total_seconds() > WITNESS_ALERT_AFTER_SECONDS,
            alert_after_seconds=WITNESS_ALERT_AFTER_SECONDS))
    return rows
