"""The witness's memory: per log origin, the latest checkpoint it co-signed.

One JSON file per origin under the state directory. A file is replaced, never edited: the
new content goes to a temporary file in the same directory, which is flushed and fsynced,
then renamed over the old one (``os.replace`` is atomic on POSIX), and the directory itself
is fsynced so the rename survives a power cut. A crash at any moment leaves either the old
file or the new one, never a mix; a leftover temporary file is removed at start.

A state file that cannot be read stops the witness at start: treating it as "never saw
this log" would let it co-sign a fork. One process owns a state directory at a time (an
exclusive ``flock`` on ``witness.lock``), and inside it one lock serialises each request's
check-then-store, so two requests can never interleave (the roll-back race the tlog-witness
document describes).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FORMAT = "consent-broker-witness-state/1"


class StateError(RuntimeError):
    """The state directory is unusable: held by another witness, or a file is unreadable."""


@dataclass(frozen=True)
class LogRecord:
    origin: str
    size: int
    root_hash: bytes
    note: str  # the checkpoint as it was submitted, the log's signature included
    cosigned_at: int

    def to_json(self) -> bytes:
        return (json.dumps({
            "format": FORMAT, "origin": self.origin, "size": self.size,
            "root_hash": base64.b64encode(self.root_hash).decode(), "note": self.note,
            "cosigned_at": self.cosigned_at,
        }, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes, *, path: Path) -> LogRecord:
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            record = cls(origin=data["origin"], size=int(data["size"]),
                         root_hash=base64.b64decode(data["root_hash"], validate=True),
                         note=data["note"], cosigned_at=int(data["cosigned_at"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{path} is not a witness state file ({exc}); the witness "
                             "stops rather than forget what it co-signed") from exc
        if len(record.root_hash) != 32 or record.size < 0:
            raise StateError(f"{path} holds an impossible tree head")
        return record


def _file_name(origin: str) -> str:
    return "log-" + hashlib.sha256(origin.encode()).hexdigest()[:32] + ".json"


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old content or the new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._owner = open(self.directory / "witness.lock", "a")  # noqa: SIM115 - held open
        try:
            fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._owner.close()
            raise StateError(f"another witness process holds {self.directory}") from exc
        self._lock = threading.Lock()
        self._records: dict[str, LogRecord] = {}
        for leftover in self.directory.glob(".*.tmp"):
            leftover.unlink()  # an interrupted write; the file it was replacing is intact
        for path in sorted(self.directory.glob("log-*.json")):
            record = LogRecord.from_json(path.read_bytes(), path=path)
            if path.name != _file_name(record.origin):
                raise StateError(f"{path} holds the state of another origin")
            self._records[record.origin] = record

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold this while checking a request against the state and storing its result."""
        with self._lock:
            yield

    def latest(self, origin: str) -> LogRecord | None:
        return self._records.get(origin)

    def store(self, record: LogRecord) -> None:
        """Persist ``record`` durably, then remember it (call inside ``transaction``)."""
        durable_replace(self.directory / _file_name(record.origin), record.to_json())
        self._records[record.origin] = record

    def keep_evidence(self, origin: str, body: bytes, reason: str) -> Path:
        """Keep a correctly signed checkpoint it refused: it may prove the log forked."""
        folder = self.directory / "evidence"
        folder.mkdir(exist_ok=True, mode=0o700)
        digest = hashlib.sha256(body).hexdigest()[:16]
        path = folder / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{digest}.txt"
        header = f"origin: {origin}\nrefused: {reason}\n\n".encode()
        durable_replace(path, header + body)
        return path

    def close(self) -> None:
        self._owner.close()
