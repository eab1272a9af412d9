"""What every transfers service shares: errors with their HTTP meaning, the actors audit
events name (`audit.services.audit_event`), and the directory releases are written to."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from audit.services import system_actor
from governance.models import Operator


class TransferError(Exception):
    """A request the rules refuse. The message is safe to show the caller; ``status`` is the
    HTTP status the API answers with and ``code`` a stable machine-readable name."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class NotFound(TransferError):
    status, code = 404, "not_found"


class Conflict(TransferError):
    status, code = 409, "conflict"


class UnsupportedMediaType(TransferError):
    status, code = 415, "unsupported_media_type"


class PayloadTooLarge(TransferError):
    status, code = 413, "too_large"


class LengthRequired(TransferError):
    status, code = 411, "length_required"


# The transfers app acting on its own (an export job, the deletion search), in audit events.
SYSTEM = system_actor("transfers")


def operator_actor(operator: Operator) -> tuple[str, str]:
    return "operator", f"operator:{operator.code}"




def releases_dir() -> Path:
    return Path(settings.RELEASES_DIR)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one bulk step (an upload batch, a release).

    Such a step allocates millions of short-lived objects that reference counting frees; it
    creates no reference cycles, but every few hundred allocations the collector would still
    walk the step's growing lists (measured: 10-20% of an upload batch or a release export).
    The collector is switched back on afterwards, and runs then if it is due.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
