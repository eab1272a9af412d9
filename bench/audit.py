"""Audit trail benchmark, on PostgreSQL (its own database `bench_audit`) with a real Celery
worker on Redis sealing the log, as in production.

1. Throughput: 16 writer threads, each committing transactions that do one business INSERT
   and record one audit event with `audit_record`; ceiling: the same 16 writers doing the
   same business INSERT and a plain INSERT of the same audit row (no ORM, no guard, no
   sealing). Goal: ratio >= 0.7.
2. Latency from commit to a signed checkpoint covering the event, with the worker sealing
   (debounced task + AUDIT_CHECKPOINT_INTERVAL). Goal: p99 <= 2 s. Its floor is the
   checkpoint interval itself: under steady load an event waits up to one interval. And from
   commit to a checkpoint covering it that the witness has co-signed (one local witness,
   `python -m audit.witness serve`, asked by the worker's task). Goal: p99 <= 3 s.
3. Verification time per million entries (`audit_log_verify`, one Python process, rows
   prefetched by audit.prefetch), against the ceiling of merely streaming the same rows out
   of PostgreSQL; and, for comparison, without the prefetch. Goal: <= 10 s.

    .venv/bin/python bench/audit.py [--writers 16] [--seconds 8] [--entries 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/11")
DB = "bench_audit"
INTERVAL = os.environ.get("AUDIT_CHECKPOINT_INTERVAL", "1")


def _admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def setup_django() -> None:
    os.environ.update({
        "DATABASE_URL": f"{PG}/{DB}", "CELERY_BROKER_URL": REDIS, "DJANGO_ENV": "test",
        # As in production (broker.E002): with DEBUG on, every query is also formatted and
        # kept in connection.queries, a cost the writers would not pay there.
        "DJANGO_DEBUG": "0",
        "AUDIT_CHECKPOINT_INTERVAL": INTERVAL, "AUDIT_SEAL_INLINE": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING",
        "VAR_DIR": os.environ.get("VAR_DIR", tempfile.mkdtemp(prefix="bench-audit-")),
    })
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class LocalWitness:
    """`python -m audit.witness serve` on a free port, trusting this run's log key.

    Each run of writers starts the log again at seq 0, which the witness would rightly
    refuse as a fork of what it co-signed: ``restart`` gives it a fresh state directory on
    the same port, with the same key, so the worker's AUDIT_WITNESSES stays valid.
    """

    def __init__(self) -> None:
        import socket

        self.dir = Path(tempfile.mkdtemp(prefix="bench-witness-"))
        self.key = self.dir / "key.pem"
        self.name = "bench.example/witness"
        self.vkey = subprocess.run(
            [sys.executable, "-m", "audit.witness", "keygen", "--out", str(self.key),
             "--name", self.name], cwd=ROOT, check=True, capture_output=True,
            text=True).stdout.strip()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.listen = f"127.0.0.1:{sock.getsockname()[1]}"
        self.process: subprocess.Popen | None = None
        self.runs = 0

    def start(self, log_vkey: str) -> None:
        self.log_vkey = log_vkey
        self.runs += 1
        self.process = subprocess.Popen(
            [sys.executable, "-m", "audit.witness", "serve", "--state",
             str(self.dir / f"state-{self.runs}"), "--key", str(self.key), "--name",
             self.name, "--log", log_vkey, "--listen", self.listen, "--log-level", "WARNING"],
            cwd=ROOT)
        subprocess.run([sys.executable, "-m", "audit.witness", "wait", "--listen",
                        self.listen, "--vkey", self.vkey], cwd=ROOT, check=True)

    def restart(self) -> None:
        self.stop()
        self.start(self.log_vkey)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    @property
    def setting(self) -> str:
        return f"http://{self.listen} {self.vkey}"


WITNESS: LocalWitness | None = None


def start_witness() -> None:
    """Start the witness and name it in AUDIT_WITNESSES, here and for the worker to come."""
    global WITNESS
    from django.conf import settings

    from audit.checkpoints import verifier_key
    from audit.signing import service_public_key_bytes

    WITNESS = LocalWitness()
    WITNESS.start(verifier_key(settings.AUDIT_LOG_ORIGIN, service_public_key_bytes()))
    os.environ["AUDIT_WITNESSES"] = WITNESS.setting
    settings.AUDIT_WITNESSES = [{"name": WITNESS.name, "url": f"http://{WITNESS.listen}",
                                 "vkey": WITNESS.vkey}]


def start_worker() -> subprocess.Popen:
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "audit",
         "--concurrency=2", "--loglevel=WARNING", "--without-heartbeat", "--without-gossip",
         "--without-mingle", "-n", f"bench-audit-{os.getpid()}@%h"],
        cwd=ROOT, env=dict(os.environ))
    from config.celery import app

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return worker
    worker.kill()
    raise SystemExit("the celery worker did not start")


def reset_tables() -> None:
    """Empty the tables between runs, once the worker has sealed the previous run's backlog.

    TRUNCATE while the sealer still holds its locks deadlocks (seen when the throughput runs
    left a backlog), so wait for the backlog first and retry the rare late collision.
    """
    from django.db import OperationalError, connection

    from audit.maintenance import maintenance_mode
    from audit.models import AuditEvent
    from audit.tasks import seal_audit_log

    if AuditEvent.objects.filter(seq__isnull=True).exists():
        # The plain INSERTs of the ceiling schedule no sealing: have the worker seal them
        # (rather than wait out the timeout), so no sealer holds its locks under the TRUNCATE.
        seal_audit_log.apply_async()
    wait_until_sealed()
    for attempt in range(5):
        try:
            with maintenance_mode(), connection.cursor() as cursor:
                cursor.execute("TRUNCATE audit_auditevent, audit_checkpoint, audit_logstate, "
                               "audit_witnesscosignature, audit_witnessstate RESTART IDENTITY")
            break
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(1)
    if WITNESS is not None:
        from django.core.cache import cache

        from audit.witnessing import RETRYING_FLAG

        WITNESS.restart()
        cache.delete(RETRYING_FLAG.format(name=WITNESS.name))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_business "
                       "(id bigserial PRIMARY KEY, writer int, n int, payload text)")
        cursor.execute("TRUNCATE bench_business")


def wait_until_sealed(timeout: float = 120) -> None:
    from audit.models import AuditEvent, Checkpoint, WitnessState

    deadline = time.monotonic() + timeout
    while AuditEvent.objects.filter(seq__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # let the sealer finish signing its last checkpoint
    if WITNESS is None:
        return
    # And the witness task its last cosignature: a TRUNCATE under it fails its INSERT.
    newest = Checkpoint.objects.order_by("-size").values_list("size", flat=True).first()
    while (newest and time.monotonic() < deadline
           and not WitnessState.objects.filter(size__gte=newest).exists()):
        time.sleep(0.2)
    time.sleep(0.3)


def run_writers(writers: int, seconds: float, body, pace: float = 0.0) -> tuple[int, list]:
    """Run `body(writer, n)` in `writers` threads for `seconds`; returns (count, extras)."""
    from django.db import connection, transaction

    stop = time.monotonic() + seconds
    counts = [0] * writers
    extras: list = []
    barrier = threading.Barrier(writers)

    def loop(w: int) -> None:
        barrier.wait()
        n = 0
        while time.monotonic() < stop:
            with transaction.atomic():
                result = body(w, n)
            if result is not None:
                extras.append((result, time.time()))
            n += 1
            if pace:
                time.sleep(pace)
        counts[w] = n
        connection.close()

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(writers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return sum(counts) / elapsed, extras


def business_insert(cursor, w: int, n: int) -> None:
    cursor.execute("INSERT INTO bench_business (writer, n, payload) VALUES (%s, %s, %s)",
                   [w, n, "x" * 100])


def bench_throughput(writers: int, seconds: float) -> tuple[float, float]:
    from django.db import connection

    from audit.services import audit_record

    def plain(w: int, n: int) -> None:
        with connection.cursor() as cursor:
            business_insert(cursor, w, n)
            cursor.execute(
                "INSERT INTO audit_auditevent (created_at, actor_type, actor_id, action, "
                "target_type, target_id, details, request_id, entry_hash) VALUES "
                "(now(), %s, %s, %s, %s, %s, %s, %s, '')",
                ["system", f"system:w{w}", "bench.wrote", "bench", str(n),
                 json.dumps({"writer": w, "n": n}), ""])

    def recorded(w: int, n: int) -> None:
        with connection.cursor() as cursor:
            business_insert(cursor, w, n)
        audit_record(actor_type="system", actor_id=f"system:w{w}", action="bench.wrote",
                     target_type="bench", target_id=n, details={"writer": w, "n": n})

    # Alternate the two, twice, so that a noisy neighbour hurts both alike.
    rates: dict = {plain: [], recorded: []}
    for body in (plain, recorded, plain, recorded):
        reset_tables()
        rates[body].append(run_writers(writers, seconds / 2, body)[0])
    return statistics.mean(rates[recorded]), statistics.mean(rates[plain])


def bench_latency(writers: int, seconds: float) -> tuple[list[float], list[float]]:
    """Seconds from each commit to a signed checkpoint covering it, and to a witnessed one."""
    from django.db import connection

    from audit.models import AuditEvent, Checkpoint, WitnessCosignature
    from audit.services import audit_record

    def recorded(w: int, n: int) -> int:
        with connection.cursor() as cursor:
            business_insert(cursor, w, n)
        return audit_record(actor_type="system", actor_id=f"system:w{w}", action="bench.wrote",
                            target_type="bench", target_id=n, details={"n": n}).pk

    reset_tables()
    _, committed = run_writers(writers, seconds, recorded, pace=0.02)
    deadline = time.monotonic() + 30
    while AuditEvent.objects.filter(seq__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(float(INTERVAL) + 1.5)  # the last owed checkpoint
    newest = Checkpoint.objects.order_by("-size").values_list("size", flat=True).first()
    while (time.monotonic() < deadline + 10 and WITNESS is not None
           and not WitnessCosignature.objects.filter(checkpoint__size=newest).exists()):
        time.sleep(0.1)
    seq_of = dict(AuditEvent.objects.values_list("id", "seq"))
    checkpoints = list(Checkpoint.objects.order_by("size").values_list("size", "created_at"))
    witnessed = list(WitnessCosignature.objects.order_by("checkpoint__size")
                     .values_list("checkpoint__size", "received_at"))
    signed, cosigned = [], []
    for pk, commit_time in committed:
        seq = seq_of.get(pk)
        for delays, heads in ((signed, checkpoints), (cosigned, witnessed)):
            covering = next((at for size, at in heads if seq is not None and size > seq),
                            None)
            delays.append(float("inf") if covering is None
                          else covering.timestamp() - commit_time)
    return signed, cosigned


def generate_sealed_log(entries: int, checkpoint_every: int = 100_000) -> None:
    """Write `entries` sealed entries directly (COPY), with their checkpoints, quickly."""
    from django.db import connection

    from audit.chain import canonical_entry, entry_hash, format_timestamp
    from audit.maintenance import maintenance_mode
    from audit.merkle import Frontier, leaf_hash
    from audit.models import LogState
    from audit.sealing import checkpoint_sign

    reset_tables()
    frontier = Frontier()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sealed_at = datetime.now(UTC)
    raw = connection.cursor().cursor  # the psycopg cursor
    copy_sql = ("COPY audit_auditevent (created_at, actor_type, actor_id, action, target_type, "
                "target_id, details, request_id, seq, entry_hash, sealed_at) FROM STDIN")
    with maintenance_mode(), raw.copy(copy_sql) as copy:  # rows arrive already sealed
        for seq in range(entries):
            created_at = start + timedelta(microseconds=seq * 1237)
            details = {"plan": f"P-{seq % 40}", "fields": seq % 17, "sha256": f"{seq:064x}"}
            actor_id, target_id = f"user:{seq % 9}", str(seq)
            digest = entry_hash(canonical_entry(
                seq=seq, created_at=created_at, actor_type="officer", actor_id=actor_id,
                action="consent.granted", target_type="consent_request", target_id=target_id,
                details=details, request_id=f"req{seq:012d}"))
            frontier.append(leaf_hash(digest))
            copy.write_row((format_timestamp(created_at), "officer", actor_id, "consent.granted",
                            "consent_request", target_id, json.dumps(details),
                            f"req{seq:012d}", seq, digest.hex(), sealed_at))
            if frontier.size % checkpoint_every == 0 or frontier.size == entries:
                # Checkpoints are signed after COPY; remember their roots now.
                _pending_checkpoints.append((frontier.size, frontier.root()))
    for size, root in _pending_checkpoints:
        checkpoint_sign(size=size, root_hash=root)
    _pending_checkpoints.clear()
    LogState.objects.update_or_create(pk=LogState.SINGLETON_ID, defaults={
        "size": frontier.size, "frontier": frontier.to_hex(), "root_hash": frontier.root().hex(),
        "checkpoint_size": frontier.size, "checkpoint_at": sealed_at})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")


_pending_checkpoints: list = []


def bench_verification(entries: int) -> tuple[float, float, float]:
    """Verification with audit.prefetch (as verify_audit runs), the ceiling, and for
    comparison verification without prefetch (one connection: fetch, then hash, in turn)."""
    from unittest import mock

    from audit import bulk
    from audit.bulk import sealed_entries
    from audit.verification import audit_log_verify

    generate_sealed_log(entries)
    started = time.perf_counter()
    for _ in sealed_entries(20_000):  # the same query verification streams
        pass
    stream = time.perf_counter() - started
    started = time.perf_counter()
    report = audit_log_verify()
    verify = time.perf_counter() - started
    assert report.entries == entries
    with mock.patch.object(bulk, "prefetch_possible", return_value=False):
        started = time.perf_counter()
        audit_log_verify()
        in_turn = time.perf_counter() - started
    return verify, stream, in_turn


def load() -> str:
    """The machine is shared: each figure says how loaded it was (1, 5, 15 min averages)."""
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def percentiles(delays: list[float]) -> tuple[float, float]:
    delays = sorted(delays)
    return statistics.median(delays), delays[min(len(delays) - 1, int(len(delays) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["throughput", "latency", "verify"], action="append",
                        help="run only these parts (default: all three)")
    args = parser.parse_args()

    subprocess.run([str(ROOT / "scripts" / "services.sh"), "ensure", "pg", "redis"],
                   check=True, capture_output=True)
    _admin_sql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    _admin_sql(f"CREATE DATABASE {DB}")
    worker = None
    try:
        setup_django()
        parts = set(args.only or ["throughput", "latency", "verify"])
        # BENCH_AUDIT_NO_SEALER=1: no worker, to see what sealing itself costs the writers.
        wants_worker = parts - {"verify"} and not os.environ.get("BENCH_AUDIT_NO_SEALER")
        # BENCH_AUDIT_NO_WITNESS=1: no witness, as before issue 20.
        if wants_worker and not os.environ.get("BENCH_AUDIT_NO_WITNESS"):
            start_witness()
        worker = start_worker() if wants_worker else None
        print(f"    start: {load()}", flush=True)
        if "throughput" in parts:
            figure, ceiling = bench_throughput(args.writers, args.seconds)
            print(f"[1] {args.writers} writers in business transactions: {figure:,.0f} events/s "
                  f"recorded vs {ceiling:,.0f} plain INSERTs/s (ceiling) = "
                  f"{figure / ceiling:.2f} of the ceiling; goal >= 0.70 ({load()})", flush=True)
        if "latency" in parts:
            signed, cosigned = bench_latency(args.writers, args.seconds)
            p50, p99 = percentiles(signed)
            print(f"[2] commit -> signed checkpoint over {len(signed):,} events: p50 {p50:.2f} "
                  f"s, p99 {p99:.2f} s (floor: checkpoint interval {INTERVAL} s); "
                  f"goal p99 <= 2 s ({load()})", flush=True)
            if WITNESS is not None:
                p50, p99 = percentiles(cosigned)
                print(f"    commit -> checkpoint co-signed by one local witness: p50 "
                      f"{p50:.2f} s, p99 {p99:.2f} s; goal p99 <= 3 s")
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)
            worker = None
        if WITNESS is not None:  # [3] signs checkpoints too: no task for a worker gone
            from django.conf import settings

            WITNESS.stop()
            settings.AUDIT_WITNESSES = []
        if "verify" not in parts:
            return
        verify, stream, in_turn = bench_verification(args.entries)
        per_million = verify * 1_000_000 / args.entries
        print(f"[3] verify_audit over {args.entries:,} entries: {verify:.1f} s = "
              f"{per_million:.1f} s per million; merely streaming the rows (ceiling) "
              f"{stream:.1f} s = {stream / verify:.2f} of the time; goal <= 10 s per million "
              f"({load()})", flush=True)
        print(f"    without audit.prefetch (fetch and hash in turn): {in_turn:.1f} s",
              flush=True)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)
        if WITNESS is not None:
            WITNESS.stop()
        from django.db import connections

        connections.close_all()
        _admin_sql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
