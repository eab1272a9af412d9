"""Fixtures for the audit trail: a log with events in it, sealed and checkpointed."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.services import audit_record


def record(n: int, *, action: str = "plan.approved", start: int = 0) -> None:
    """n events, each committed in its own transaction, as callers write them."""
    for i in range(start, start + n):
        with transaction.atomic():
            audit_record(actor_type="officer", actor_id=f"user:{i % 3 + 1}", action=action,
                         target_type="transfer_plan", target_id=str(i),
                         details={"version": i, "fields": ["merchant.name"], "note": "검토 완료"})


@pytest.fixture
def sealed_log(transactional_db, settings):
    """Twelve committed events, sealed inline, with a final checkpoint over all of them."""
    from audit.sealing import audit_log_seal

    settings.AUDIT_SEAL_INLINE = True
    settings.AUDIT_CHECKPOINT_INTERVAL = 0
    record(12)
    audit_log_seal(force_checkpoint=True)
    return 12


@pytest.fixture(autouse=True)
def no_sealing_queued_yet(monkeypatch):
    """Each test starts with no sealing task queued by an earlier one (the coalescing flags
    of core.tasks.enqueue_on_commit, in this process and in the cache)."""
    from django.core.cache import cache

    from core import tasks as core_tasks

    monkeypatch.setattr(core_tasks, "_coalesced_at", {})
    cache.clear()


# --- Witnesses (audit.witness) ----------------------------------------------------------

class LogUnderTest:
    """A log the witness trusts: its own Ed25519 key, a tree of leaves, signed checkpoints.

    The witness tests need no database: the checkpoints come from ``audit.merkle`` and
    ``audit.checkpoints`` with a key made for the test. ``fork(at)`` rewrites one leaf, as
    an operator rewriting an entry would; every checkpoint from there on differs.
    """

    def __init__(self, origin: str = "log.example/test", size: int = 64, *, key=None,
                 seed: str = "") -> None:
        import hashlib

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from audit.merkle import MerkleTree, leaf_hash

        self.origin = origin
        self.key = key or Ed25519PrivateKey.generate()
        self.leaves = [leaf_hash(hashlib.sha256(f"{seed}entry {i}".encode()).digest())
                       for i in range(size)]
        self.tree = MerkleTree(self.leaves)

    @property
    def public_key(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def vkey(self) -> str:
        from audit.checkpoints import verifier_key

        return verifier_key(self.origin, self.public_key)

    def fork(self, at: int) -> LogUnderTest:
        import hashlib

        from audit.merkle import MerkleTree, leaf_hash

        other = LogUnderTest.__new__(LogUnderTest)
        other.origin, other.key = self.origin, self.key
        other.leaves = list(self.leaves)
        other.leaves[at] = leaf_hash(hashlib.sha256(f"rewritten entry {at}".encode()).digest())
        other.tree = MerkleTree(other.leaves)
        return other

    def note(self, size: int, *, sign=None) -> str:
        from audit.checkpoints import sign_checkpoint

        return sign_checkpoint(origin=self.origin, size=size, root_hash=self.tree.root(size),
                               public_key=self.public_key, sign=sign or self.key.sign)

    def request(self, old: int, new: int, *, proof=None, note: str | None = None) -> bytes:
        import base64

        proof = self.tree.consistency_proof(old, new) if proof is None else proof
        return (f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof)
                + "\n" + (note if note is not None else self.note(new))).encode()


def post(url: str, body: bytes, path: str = "/add-checkpoint", *,
         method: str = "POST") -> tuple[int, str, bytes]:
    """One HTTP request to a witness at ``url`` (http://host:port): status, type, body."""
    import http.client
    from urllib.parse import urlsplit

    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


class RunningWitness:
    """A witness served from a thread of the test process, on a free port."""

    def __init__(self, *, name: str, state_dir, logs: dict, private_key=None,
                 port: int = 0) -> None:
        import threading

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from audit.witness.server import Witness, WitnessServer
        from audit.witness.state import StateStore

        self.name = name
        self.state_dir = state_dir
        self.private_key = private_key or Ed25519PrivateKey.generate()
        self.store = StateStore(state_dir)
        self.witness = Witness(name=name, private_key=self.private_key, logs=logs,
                               store=self.store)
        self.server = WitnessServer(("127.0.0.1", port), self.witness)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    @property
    def vkey(self) -> str:
        return self.witness.verifier_key.text

    def add(self, body: bytes) -> tuple[int, str, bytes]:
        return post(self.url, body)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.store.close()


@pytest.fixture
def start_witness(tmp_path):
    """start_witness(name, {origin: [VerifierKey]}) -> RunningWitness; all stopped after."""
    running: list[RunningWitness] = []

    def start(name: str = "commission.example/witness", logs: dict | None = None, *,
              state_dir=None, private_key=None, port: int = 0) -> RunningWitness:
        witness = RunningWitness(name=name, logs=logs or {},
                                 state_dir=state_dir or tmp_path / f"witness-{len(running)}",
                                 private_key=private_key, port=port)
        running.append(witness)
        return witness

    yield start
    for witness in running:
        if witness.thread.is_alive():
            witness.stop()


@pytest.fixture
def log_under_test() -> LogUnderTest:
    return LogUnderTest()


def trusting(log: LogUnderTest) -> dict:
    from audit.witness.note import parse_verifier_key

    return {log.origin: [parse_verifier_key(log.vkey)]}


def service_log_key():
    """The service's checkpoint key as a witness is configured with it (--log VKEY)."""
    from django.conf import settings

    from audit.checkpoints import verifier_key
    from audit.signing import service_public_key_bytes
    from audit.witness.note import parse_verifier_key

    return parse_verifier_key(verifier_key(settings.AUDIT_LOG_ORIGIN,
                                           service_public_key_bytes()))


def configure(settings, *witnesses: RunningWitness) -> None:
    """AUDIT_WITNESSES naming these witnesses, as the environment variable would."""
    settings.AUDIT_WITNESSES = [{"name": w.name, "url": w.url, "vkey": w.vkey}
                                for w in witnesses]


@pytest.fixture
def commission_witness(start_witness, settings, transactional_db):
    """The commission's witness, trusting the service's log key, in AUDIT_WITNESSES; the
    log sealed inline with a checkpoint after every commit."""
    from django.conf import settings as django_settings

    witness = start_witness("commission.example/witness",
                            {django_settings.AUDIT_LOG_ORIGIN: [service_log_key()]})
    settings.AUDIT_SEAL_INLINE = True
    settings.AUDIT_CHECKPOINT_INTERVAL = 0
    configure(settings, witness)
    return witness
