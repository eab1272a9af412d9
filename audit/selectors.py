"""Reads of the audit log for other apps: witnessed checkpoints, and how the witnesses keep up."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from audit.models import Checkpoint, WitnessCosignature, WitnessState

# The dashboard turns a witness red when a checkpoint has waited this long for its
# cosignature: the witness is down, unreachable or refusing (its last error says which).
WITNESS_ALERT_AFTER_SECONDS = 300


def checkpoint_note_cosigned(checkpoint: Checkpoint) -> str:
    """The checkpoint's note with every stored cosignature line after the log's signature."""
    lines = (WitnessCosignature.objects.filter(checkpoint=checkpoint)
             .order_by("witness", "key_id").values_list("line", flat=True))
    return checkpoint.note + "".join(lines)


def newest_witnessed_checkpoint() -> dict | None:
    """The newest checkpoint a configured witness co-signed, for documents that cite the log.

    ``{"size", "root", "witnessed_by"}`` with the root in base64 as in the note. With no
    cosignature yet it names the newest checkpoint with an empty ``witnessed_by``; None on
    an empty log.
    """
    names = [w["name"] for w in settings.AUDIT_WITNESSES]
    witnessed = (WitnessCosignature.objects.filter(witness__in=names)
                 .order_by("-checkpoint__size").values_list("checkpoint_id", flat=True).first())
    checkpoint = (Checkpoint.objects.filter(pk=witnessed).first() if witnessed is not None
                  else Checkpoint.objects.order_by("-size").first())
    if checkpoint is None:
        return None
    by = sorted(set(WitnessCosignature.objects.filter(checkpoint=checkpoint, witness__in=names)
                    .values_list("witness", flat=True)))
    return {"size": checkpoint.size,
            "root": base64.b64encode(bytes.fromhex(checkpoint.root_hash)).decode(),
            "witnessed_by": by}


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
