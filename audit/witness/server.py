"""The add-checkpoint call of c2sp.org/tlog-witness, and a small HTTP server for it.

``Witness.add_checkpoint`` takes the request body and returns the answer the document
prescribes, checked in its order:

- 400 a body that is not ``old <size>``, at most 63 base64 proof lines, a blank line and a
  checkpoint note; or an old size larger than the checkpoint's;
- 404 a checkpoint from an origin it was not configured for;
- 403 no signature on it verifies with a key it trusts for that origin;
- 409 (body: the size it last co-signed, ``text/x.tlog.size``) an old size that is not the
  one it last co-signed for the origin, or the same size with another root hash;
- 422 the consistency proof does not show the checkpoint extends the one it co-signed;
- 200 its cosignature line, once the new checkpoint is stored durably.

A correctly signed checkpoint it refuses with 409 (same size, other root) or 422 is kept
under ``<state>/evidence/``: it may be the proof that the log showed someone else another
history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .note import (
    NoteError,
    VerifierKey,
    cosign,
    parse_checkpoint_text,
    parse_note,
    verified_by,
    witness_verifier_key,
)
from .state import LogRecord, StateStore
from .tlog import verify_consistency

logger = logging.getLogger("witness")

MAX_PROOF_LINES = 63
MAX_BODY_BYTES = 64 * 1024
EMPTY_TREE_ROOT = hashlib.sha256(b"").digest()
SIZE_CONTENT_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def _refusal(status: int, message: str) -> Answer:
    return Answer(status, (message + "\n").encode())


def parse_request(body: bytes) -> tuple[int, list[bytes], bytes]:
    """Split an add-checkpoint body into the old size, the proof and the checkpoint note."""
    head, sep, rest = body.partition(b"\n")
    if not sep or not head.startswith(b"old "):
        raise NoteError("the body must start with the line 'old <size>'")
    size_text = head[4:].decode("ascii", "replace")
    if not size_text.isdigit() or not size_text.isascii() or (
            size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"bad old size {size_text!r}")
    proof = []
    while True:
        line, sep, rest = rest.partition(b"\n")
        if not sep:
            raise NoteError("no blank line between the consistency proof and the checkpoint")
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise NoteError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            node = base64.b64decode(line, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("a consistency proof line is not base64") from exc
        if len(node) != 32:
            raise NoteError("a consistency proof line is not a 32-byte hash")
        proof.append(node)
    return int(size_text), proof, rest


class Witness:
    def __init__(self, *, name: str, private_key: Ed25519PrivateKey,
                 logs: dict[str, list[VerifierKey]], store: StateStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.private_key = private_key
        self.verifier_key = witness_verifier_key(name, private_key)
        self.logs = logs
        self.store = store
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            old_size, proof, note_bytes = parse_request(body)
            note = parse_note(note_bytes)
            checkpoint = parse_checkpoint_text(note.text)
        except (NoteError, UnicodeDecodeError) as exc:
            return _refusal(400, f"malformed request: {exc}")
        keys = self.logs.get(checkpoint.origin)
        if not keys:
            return _refusal(404, f"unknown log origin {checkpoint.origin!r}")
        if not any(verified_by(note, key) for key in keys):
            return _refusal(403, "no signature on the checkpoint verifies with a key this "
                                 f"witness trusts for {checkpoint.origin!r}")
        if old_size > checkpoint.size:
            return _refusal(400, f"old size {old_size} is past the checkpoint's size "
                                 f"{checkpoint.size}")
        with self.store.transaction():
            return self._check_and_cosign(old_size, proof, note_bytes, note.text, checkpoint)

    def _check_and_cosign(self, old_size, proof, note_bytes, text, checkpoint) -> Answer:
        origin = checkpoint.origin
        record = self.store.latest(origin)
        known_size = record.size if record else 0
        known_root = record.root_hash if record else EMPTY_TREE_ROOT
        if old_size != known_size:
            logger.info("%s: old size %d, but it co-signed %d", origin, old_size, known_size)
            return Answer(409, f"{known_size}\n".encode(), SIZE_CONTENT_TYPE)
        if checkpoint.size == known_size and checkpoint.root_hash != known_root:
            self._keep_evidence(origin, note_bytes, old_size, "same size, another root hash")
            return Answer(409, f"{known_size}\n".encode(), SIZE_CONTENT_TYPE)
        if not verify_consistency(old_size, checkpoint.size, known_root, checkpoint.root_hash,
                                  proof):
            self._keep_evidence(origin, note_bytes, old_size,
                                "the consistency proof does not verify")
            return _refusal(422, f"checkpoint {checkpoint.size} is not shown to extend the "
                                 f"checkpoint {known_size} this witness co-signed")
        # A clock set back must not make a later cosignature look older than an earlier one.
        timestamp = max(int(self.clock()), record.cosigned_at if record else 0)
        cosignature = cosign(text, name=self.name, private_key=self.private_key,
                             timestamp=timestamp)
        try:
            self.store.store(LogRecord(origin=origin, size=checkpoint.size,
                                       root_hash=checkpoint.root_hash,
                                       note=note_bytes.decode(), cosigned_at=timestamp))
        except OSError as exc:
            logger.error("%s: could not store checkpoint %d: %s", origin, checkpoint.size, exc)
            return _refusal(500, "the witness could not store the checkpoint; not co-signed")
        logger.info("%s: co-signed checkpoint %d (was %d)", origin, checkpoint.size, old_size)
        return Answer(200, cosignature.line.encode())

    def _keep_evidence(self, origin: str, note_bytes: bytes, old_size: int,
                       reason: str) -> None:
        try:
            path = self.store.keep_evidence(origin, note_bytes, f"{reason} (old {old_size})")
        except OSError as exc:  # the refusal matters more than the copy
            logger.error("%s: could not keep the refused checkpoint: %s", origin, exc)
            return
        logger.warning("%s: refused a correctly signed checkpoint (%s); kept as %s",
                       origin, reason, path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the protocol recommends
    server_version = "consent-broker-witness/1"

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        if self.path != "/add-checkpoint":
            # Its body is left unread: close, or it would be taken for the next request.
            return self._send(_refusal(404, "not found"), close=True)
        if self.headers.get("Transfer-Encoding"):
            return self._send(_refusal(411, "send the body with a Content-Length"), close=True)
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._send(_refusal(411, "a Content-Length is required"), close=True)
        if not 0 <= length <= MAX_BODY_BYTES:
            return self._send(_refusal(413, f"at most {MAX_BODY_BYTES} bytes"), close=True)
        body = self.rfile.read(length)
        self._send(self.server.witness.add_checkpoint(body))

    def do_GET(self) -> None:  # noqa: N802
        if self.path != "/":
            return self._send(_refusal(404, "not found"))
        witness = self.server.witness
        self._send(Answer(200, f"{witness.verifier_key.text}\n".encode()))

    def _not_allowed(self) -> None:
        self._send(_refusal(405, "POST /add-checkpoint"), close=True)

    do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815

    def _send(self, answer: Answer, *, close: bool = False) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the http.server API
        logger.debug("%s %s", self.address_string(), format % args)


class WitnessServer(ThreadingHTTPServer):
    # Let in-flight requests finish (and their state reach the disk) on shutdown.
    daemon_threads = False
    block_on_close = True
    request_queue_size = 128  # socketserver's 5 resets a burst of connections

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        super().__init__(address, _Handler)
        self.witness = witness
