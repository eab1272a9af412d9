"""The service asks its witnesses to co-sign each new checkpoint, and keeps their answers.

Embedded default here (sealing inline, tasks in-process); the last test runs a real Celery
worker on PostgreSQL.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from audit import witnessing
from audit.models import AuditEvent, Checkpoint, WitnessCosignature, WitnessState
from audit.selectors import checkpoint_note_cosigned
from audit.witness.note import cosignatures_by, parse_note, parse_verifier_key, verified_by

from .conftest import LogUnderTest, configure, record, service_log_key


def _newest() -> Checkpoint:
    return Checkpoint.objects.order_by("-size").first()


def test_each_new_checkpoint_is_cosigned_and_the_note_carries_the_cosignature(
        commission_witness):
    record(4)
    newest = _newest()
    assert newest.size == 4
    assert WitnessCosignature.objects.count() == 4  # one per checkpoint, sizes 1..4
    state = WitnessState.objects.get(name="commission.example/witness")
    assert (state.size, state.failures, state.last_error) == (4, 0, "")
    note = parse_note(checkpoint_note_cosigned(newest).encode())
    assert verified_by(note, service_log_key()) is True
    [cosignature] = cosignatures_by(note, parse_verifier_key(commission_witness.vkey))[0]
    assert abs(cosignature.timestamp - time.time()) < 60
    # The witness itself remembers size 4 with our root, on its disk.
    stored = commission_witness.store.latest(newest.note.split("\n")[0])
    assert (stored.size, stored.root_hash.hex()) == (4, newest.root_hash)


def test_a_witness_that_is_down_is_retried_with_backoff_and_then_catches_up(
        commission_witness, start_witness, settings):
    record(2)
    commission_witness.stop()
    record(1)
    state = WitnessState.objects.get()
    assert (state.size, state.failures) == (2, 1)
    assert "unreachable" in state.last_error
    assert timedelta(seconds=1) < state.retry_at - timezone.now() <= timedelta(seconds=2)
    record(3)  # within the backoff: not asked again, the log goes on
    assert _newest().size == 6 and WitnessState.objects.get().failures == 1
    back = start_witness(commission_witness.name, commission_witness.witness.logs,
                         state_dir=commission_witness.state_dir,
                         private_key=commission_witness.private_key)
    configure(settings, back)
    WitnessState.objects.update(retry_at=timezone.now())
    record(1)
    state = WitnessState.objects.get()
    assert (state.size, state.failures, state.last_error, state.retry_at) == (7, 0, "", None)
    assert not WitnessCosignature.objects.filter(checkpoint__size__in=[3, 4, 5, 6]).exists()
    assert WitnessCosignature.objects.filter(checkpoint__size=7).exists()


def test_the_log_does_not_wait_for_a_witness_that_never_answers(commission_witness,
                                                                settings, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    settings.AUDIT_WITNESSES = [{**settings.AUDIT_WITNESSES[0],
                                 "url": f"http://127.0.0.1:{silent.getsockname()[1]}"}]
    monkeypatch.setattr(witnessing, "TIMEOUT_SECONDS", 0.3)
    started = time.monotonic()
    record(1)
    assert time.monotonic() - started < 3
    assert AuditEvent.objects.get().seq == 0 and _newest().size == 1
    assert "timed out" in WitnessState.objects.get().last_error
    silent.close()


def test_a_witness_that_does_not_trust_our_key_refuses_and_officers_see_why(
        start_witness, settings, transactional_db):
    stranger = LogUnderTest(origin=settings.AUDIT_LOG_ORIGIN)
    witness = start_witness("other.example/witness", {
        settings.AUDIT_LOG_ORIGIN: [parse_verifier_key(stranger.vkey)]})
    settings.AUDIT_SEAL_INLINE, settings.AUDIT_CHECKPOINT_INTERVAL = True, 0
    configure(settings, witness)
    record(1)
    state = WitnessState.objects.get()
    assert state.failures == 1 and state.last_error.startswith("HTTP 403: no signature")
    assert not WitnessCosignature.objects.exists()


def test_it_resumes_from_the_witness_size_when_its_own_record_was_lost(commission_witness):
    from audit.maintenance import maintenance_mode

    record(5)
    with maintenance_mode():  # a restore from an old backup: the database refuses otherwise
        WitnessState.objects.update(size=0, frontier=[], root_hash="")
    record(2)
    state = WitnessState.objects.get()
    assert (state.size, state.failures) == (7, 0)
    assert commission_witness.store.latest(_newest().note.split("\n")[0]).size == 7


def test_a_witness_that_cosigned_more_than_the_log_holds_is_reported_as_a_fork(
        start_witness, settings, transactional_db, caplog):
    from audit.signing import service_private_key

    # The witness already co-signed 30 entries of "this" log: a history the database no
    # longer holds (restored from a backup, or shown to the commission and then replaced).
    earlier = LogUnderTest(origin=settings.AUDIT_LOG_ORIGIN, size=30,
                           key=service_private_key())
    witness = start_witness("commission.example/witness",
                            {settings.AUDIT_LOG_ORIGIN: [service_log_key()]})
    assert witness.add(earlier.request(0, 30))[0] == 200
    settings.AUDIT_SEAL_INLINE, settings.AUDIT_CHECKPOINT_INTERVAL = True, 0
    configure(settings, witness)
    with caplog.at_level(logging.CRITICAL, logger="audit.witnessing"):
        record(3)
    state = WitnessState.objects.get()
    assert "co-signed 30 entries of this log, our newest checkpoint has 1" in state.last_error
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)
    assert not WitnessCosignature.objects.exists()


def test_a_witness_answering_with_a_forged_cosignature_is_not_stored(
        commission_witness, settings):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Liar(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            # A line with the witness's name and key id but a signature over nothing.
            key = parse_verifier_key(commission_witness.vkey)
            import base64

            body = (f"\u2014 {key.name} "
                    f"{base64.b64encode(key.key_id + bytes(72)).decode()}\n").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.AUDIT_WITNESSES = [{**settings.AUDIT_WITNESSES[0],
                                 "url": f"http://127.0.0.1:{server.server_address[1]}"}]
    record(1)
    server.shutdown()
    assert not WitnessCosignature.objects.exists()
    assert "without a cosignature that verifies" in WitnessState.objects.get().last_error


@pytest.fixture
def witness_in_worker_env(commission_witness, monkeypatch):
    """AUDIT_WITNESSES in the environment the worker process starts with."""
    monkeypatch.setenv("AUDIT_WITNESSES",
                       f"{commission_witness.url} {commission_witness.vkey}")
    monkeypatch.setenv("AUDIT_CHECKPOINT_INTERVAL", "0.2")
    return commission_witness


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.celery_worker
@pytest.mark.postgres
def test_a_worker_has_each_checkpoint_cosigned_and_retries_a_witness_that_was_down(
        witness_in_worker_env, start_witness, celery_worker_process):
    from django.core.cache import cache

    cache.clear()
    witness = witness_in_worker_env
    record(5)
    assert _wait_for(lambda: WitnessState.objects.filter(size=5).exists())
    port = int(witness.url.rsplit(":", 1)[1])
    witness.stop()
    record(3)
    assert _wait_for(lambda: WitnessState.objects.filter(failures__gte=1).exists())
    start_witness(witness.name, witness.witness.logs, state_dir=witness.state_dir,
                  private_key=witness.private_key, port=port)
    assert _wait_for(lambda: WitnessState.objects.filter(size=8, failures=0).exists())
    assert WitnessCosignature.objects.filter(checkpoint__size=8).exists()
