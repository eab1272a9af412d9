"""Asking witnesses to co-sign the log's checkpoints (C2SP tlog-witness), keeping the answers.

After each new checkpoint every witness in ``settings.AUDIT_WITNESSES`` is sent the newest
checkpoint with a consistency proof from the size it last co-signed; its cosignature is
stored next to the checkpoint (``WitnessCosignature``) and appended to the note wherever the
note leaves the service (the bundle). The log never waits on a witness: asking happens after
the sealing transaction has committed, in a Celery task on queue ``audit`` with workers, or
right there in the embedded default (one local round trip per checkpoint, at most one per
``AUDIT_CHECKPOINT_INTERVAL``). A witness that is down or refuses is tried again with
exponential backoff (2, 4, … up to 300 s); since each attempt sends the newest checkpoint,
the first one that succeeds catches up on everything.

A refusal that means a fork is logged at CRITICAL: the witness has co-signed a bigger tree
than ours, or another root at our size, or finds our checkpoint inconsistent with what it
saw. Those are what witnesses are for: this service (or its database) is showing two
histories, or was restored behind what the commission already saw.
"""

from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.merkle import Frontier, consistency_proof_from_frontier, leaf_hash
from audit.models import AuditEvent, Checkpoint, LogState, WitnessCosignature, WitnessState
from audit.witness.note import (
    COSIGNATURE_V1,
    Note,
    NoteError,
    VerifierKey,
    cosignatures_by,
    parse_signature_line,
    parse_verifier_key,
)
from core.tasks import enqueue_on_commit

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5
MAX_BACKOFF_SECONDS = 300
# A retry chain (Celery) owns a witness while this flag lives; new checkpoints do not start
# a second chain beside it.
RETRYING_FLAG = "audit:witness-retrying:{name}"
MAX_ANSWER_BYTES = 64 * 1024
# A cosignature dated further ahead of our clock than this is refused (and retried).
MAX_CLOCK_AHEAD_SECONDS = 600


@dataclass(frozen=True)
class WitnessConfig:
    name: str
    url: str
    key: VerifierKey


def configured_witnesses() -> list[WitnessConfig]:
    return [WitnessConfig(name=w["name"], url=w["url"],
                          key=parse_verifier_key(w["vkey"], algorithm=COSIGNATURE_V1))
            for w in settings.AUDIT_WITNESSES]


def parse_witness_option(text: str) -> VerifierKey:
    """``NAME=VKEY`` or a bare VKEY (the name is the key's): a witness's cosigning key."""
    given, sep, vkey = text.partition("=")
    if not sep or "+" in given:
        given, vkey = "", text
    key = parse_verifier_key(vkey, algorithm=COSIGNATURE_V1)
    if given and given != key.name:
        raise NoteError(f"the key is named {key.name!r}, not {given!r}")
    return key


def witness_setting_problems(witnesses: object) -> list[str]:
    """What is wrong with an ``AUDIT_WITNESSES`` value (empty: nothing; an empty list is
    valid here, production refuses it separately). config/checks.py reports these.

    The environment variable is parsed in config/settings.py, which refuses a malformed one
    at start; this checks the value itself, however it was set: a list of
    ``{"name", "url", "vkey"}``, an http(s) URL, a cosignature/v1 verifier key named as the
    witness, each witness once.
    """
    if not isinstance(witnesses, list | tuple):
        return [f"must be a list of witnesses, not {type(witnesses).__name__}"]
    problems, names = [], set()
    for i, witness in enumerate(witnesses):
        if not isinstance(witness, dict) or not all(
                isinstance(witness.get(k), str) for k in ("name", "url", "vkey")):
            problems.append(f"entry {i} is not {{'name', 'url', 'vkey'}} (strings)")
            continue
        url = urllib.parse.urlsplit(witness["url"])
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(f"{witness['name']!r}: {witness['url']!r} is not an http(s) URL")
        try:
            key = parse_verifier_key(witness["vkey"], algorithm=COSIGNATURE_V1)
        except NoteError as exc:
            problems.append(f"{witness['name']!r}: {exc}")
        else:
            if key.name != witness["name"]:
                problems.append(f"{witness['name']!r}: its verifier key is named {key.name!r}")
        if witness["name"] in names:
            problems.append(f"{witness['name']!r} is named twice")
        names.add(witness["name"])
    return problems


def witnesses_all_local(witnesses: list[dict]) -> bool:
    """True when every witness listens on this machine (loopback): the demo's set-up."""
    hosts = [urllib.parse.urlsplit(w["url"]).hostname or "" for w in witnesses]
    return bool(hosts) and all(h == "localhost" or _is_loopback(h) for h in hosts)


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configured_witness(name: str) -> WitnessConfig | None:
    return next((w for w in configured_witnesses() if w.name == name), None)


@dataclass(frozen=True)
class WitnessOutcome:
    witness: str
    status: str  # cosigned | current | empty | deferred | failed
    size: int | None = None
    message: str = ""
    retry_in: float | None = None


class WitnessRefused(Exception):
    """The witness did not co-sign; ``critical`` when the answer means the log forked or is
    damaged (logged at CRITICAL), not that the witness is merely away."""

    def __init__(self, message: str, *, critical: bool = False) -> None:
        super().__init__(message)
        self.critical = critical


def witness_cosignature_request(*, witness: WitnessConfig,
                                respect_backoff: bool = True) -> WitnessOutcome:
    """Send the newest checkpoint to ``witness`` and store its cosignature.

    Never raises for the witness's sake: a failure is recorded on its ``WitnessState``
    (shown to officers) and returned with the delay before the next try.
    """
    checkpoint = Checkpoint.objects.order_by("-size").first()
    if checkpoint is None:
        return WitnessOutcome(witness.name, "empty")
    state, _ = WitnessState.objects.get_or_create(name=witness.name)
    now = timezone.now()
    if respect_backoff and state.retry_at and state.retry_at > now:
        return WitnessOutcome(witness.name, "deferred", state.size,
                              retry_in=(state.retry_at - now).total_seconds())
    if state.size == checkpoint.size and WitnessCosignature.objects.filter(
            checkpoint=checkpoint, witness=witness.name).exists():
        return WitnessOutcome(witness.name, "current", checkpoint.size)
    try:
        cosignature, frontier = _ask(witness, state, checkpoint)
    except WitnessRefused as exc:
        return _failed(state, exc, now)
    with transaction.atomic():
        WitnessCosignature.objects.get_or_create(
            checkpoint=checkpoint, witness=witness.name, key_id=cosignature.key_id.hex(),
            defaults={"line": cosignature.line,
                      "signed_at": datetime.fromtimestamp(cosignature.timestamp, UTC)})
        # Only forwards: a concurrent request may already have moved it past this one.
        WitnessState.objects.filter(pk=state.pk, size__lte=checkpoint.size).update(
            size=checkpoint.size, root_hash=checkpoint.root_hash, frontier=frontier.to_hex(),
            cosigned_at=datetime.fromtimestamp(cosignature.timestamp, UTC),
            attempted_at=now, failures=0, last_error="", retry_at=None)
    return WitnessOutcome(witness.name, "cosigned", checkpoint.size)


def _failed(state: WitnessState, exc: WitnessRefused, now: datetime) -> WitnessOutcome:
    failures = state.failures + 1
    retry_in = float(min(MAX_BACKOFF_SECONDS, 2 ** failures))
    message = str(exc)
    (logger.critical if exc.critical else logger.warning)(
        "witness %s did not co-sign: %s (attempt %d, next in %.0f s)", state.name, message,
        failures, retry_in)
    WitnessState.objects.filter(pk=state.pk).update(
        failures=failures, last_error=message[:1000], attempted_at=now,
        retry_at=now + timedelta(seconds=retry_in))
    return WitnessOutcome(state.name, "failed", state.size, message, retry_in)


def _ask(witness: WitnessConfig, state: WitnessState, checkpoint: Checkpoint,
         *, resynced: bool = False):
    old_size = state.size
    if old_size > checkpoint.size:
        raise WitnessRefused(
            f"the witness co-signed {old_size} entries of this log, our newest checkpoint has "
            f"{checkpoint.size}: the database was restored behind what it saw, or the log "
            "forked", critical=True)
    old = _frontier_of(state)
    new_leaves = _leaf_hashes(old_size, checkpoint.size)
    frontier = old.copy()
    for h in new_leaves:
        frontier.append(h)
    if frontier.root().hex() != checkpoint.root_hash:
        raise WitnessRefused(f"the sealed entries do not give checkpoint {checkpoint.size}'s "
                             "root: run verify_audit", critical=True)
    proof = consistency_proof_from_frontier(old, new_leaves)
    body = (f"old {old_size}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof)
            + "\n" + checkpoint.note).encode()
    status, content_type, answer = _post(f"{witness.url}/add-checkpoint", body)
    if status == 200:
        return _cosignature_from(answer, witness, checkpoint), frontier
    if status == 409 and content_type.startswith("text/x.tlog.size"):
        theirs = _size_from(answer)
        if theirs == old_size:
            raise WitnessRefused(f"the witness co-signed another root at size {old_size}: "
                                 "the log forked", critical=True)
        if theirs > checkpoint.size:
            raise WitnessRefused(
                f"the witness co-signed {theirs} entries of this log, our newest checkpoint "
                f"has {checkpoint.size}: the database was restored behind what it saw, or "
                "the log forked", critical=True)
        if resynced:
            raise WitnessRefused(f"the witness answers 409 ({theirs}) again")
        # It co-signed another size than we recorded (a request answered after our timeout,
        # or another of our processes): start from its size.
        state.size, state.frontier = theirs, _frontier_at(theirs).to_hex()
        return _ask(witness, state, checkpoint, resynced=True)
    if status == 422:
        raise WitnessRefused(
            f"the witness finds checkpoint {checkpoint.size} inconsistent with the checkpoint "
            f"{old_size} it co-signed: the log forked", critical=True)
    text = answer[:300].decode("utf-8", "replace").strip()
    raise WitnessRefused(f"HTTP {status}: {text}" if status else text)


def _post(url: str, body: bytes) -> tuple[int, str, bytes]:
    # settings refuse any AUDIT_WITNESSES URL that is not http(s)
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return (response.status, response.headers.get("Content-Type", ""),
                    response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read(MAX_ANSWER_BYTES)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 0, "", f"the witness at {url} is unreachable: {reason}".encode()


def _size_from(answer: bytes) -> int:
    text = answer.decode("ascii", "replace").strip()
    if not text.isdigit():
        raise WitnessRefused(f"409 without a tree size: {text[:80]!r}")
    return int(text)


def _cosignature_from(answer: bytes, witness: WitnessConfig, checkpoint: Checkpoint):
    text = checkpoint.note.partition("\n\n")[0].encode() + b"\n"
    try:
        lines = tuple(parse_signature_line(line) for line in
                      answer.decode("utf-8").splitlines() if line)
    except (NoteError, UnicodeDecodeError) as exc:
        raise WitnessRefused(f"the witness answered 200 with no signature lines: {exc}") \
            from exc
    good, bad = cosignatures_by(Note(text=text, signatures=lines), witness.key)
    if not good:
        raise WitnessRefused("the witness answered 200 without a cosignature that verifies "
                             f"with its configured key ({bad} failed)")
    # tlog-cosignature lets verifiers refuse a cosignature from the future; stored, it would
    # make the witness look current for as long as its clock is ahead.
    ahead = good[0].timestamp - timezone.now().timestamp()
    if ahead > MAX_CLOCK_AHEAD_SECONDS:
        raise WitnessRefused(f"the witness dated its cosignature {ahead:.0f} s ahead of our "
                             "clock: its clock (or ours) is wrong; not stored")
    return good[0]


def _frontier_of(state: WitnessState) -> Frontier:
    if state.size == 0:
        return Frontier()
    if len(state.frontier) == bin(state.size).count("1"):
        return Frontier.from_hex(state.size, state.frontier)
    return _frontier_at(state.size)


def _frontier_at(size: int) -> Frontier:
    """The tree's right edge at ``size``: kept by the log state or a witness, or rebuilt."""
    log = LogState.objects.filter(pk=LogState.SINGLETON_ID).first()
    if log is not None and log.size == size:
        return Frontier.from_hex(size, log.frontier)
    frontier = Frontier()
    for h in _leaf_hashes(0, size):
        frontier.append(h)
    return frontier


def _leaf_hashes(start: int, end: int) -> list[bytes]:
    hashes = [leaf_hash(bytes.fromhex(h)) for h in
              AuditEvent.objects.filter(seq__gte=start, seq__lt=end).order_by("seq")
              .values_list("entry_hash", flat=True).iterator(chunk_size=20_000)]
    if len(hashes) != end - start:
        raise WitnessRefused(f"entries {start}..{end - 1} are not all sealed: run verify_audit")
    return hashes


# --- when to ask --------------------------------------------------------------------------

def witnesses_ask_soon() -> None:
    """Called once a new checkpoint has committed. Never raises: the log does not wait.

    One ``audit.tasks.witness_checkpoint`` per witness through `core.tasks.enqueue_on_commit`:
    in the embedded default (no broker) it runs right here, each witness asked at most once
    per its backoff; with workers it goes to queue ``audit``, unless a retry chain owns the
    witness.
    """
    try:
        for witness in configured_witnesses():
            if not cache.get(RETRYING_FLAG.format(name=witness.name)):
                enqueue_on_commit("audit.tasks.witness_checkpoint", witness.name)
    except Exception:  # noqa: BLE001 - a witness must never fail the log
        logger.exception("asking the witnesses to co-sign was deferred")


def witnesses_ask_now() -> list[WitnessOutcome]:
    """Ask every witness at once, whatever its backoff (export, ``seal_audit``)."""
    return [witness_cosignature_request(witness=witness, respect_backoff=False)
            for witness in configured_witnesses()]


def witnesses_behind(*, grace_seconds: float = 10) -> list[str]:
    """Witnesses that have not co-signed a checkpoint signed ``grace_seconds`` ago or more.

    The beat safety net asks them again: their task was lost with its worker.
    """
    if not settings.AUDIT_WITNESSES:
        return []
    newest = (Checkpoint.objects
              .filter(created_at__lte=timezone.now() - timedelta(seconds=grace_seconds))
              .order_by("-size").values_list("size", flat=True).first())
    if newest is None:
        return []
    names = [w.name for w in configured_witnesses()]
    current = set(WitnessState.objects.filter(name__in=names, size__gte=newest)
                  .values_list("name", flat=True))
    return [name for name in names if name not in current]
