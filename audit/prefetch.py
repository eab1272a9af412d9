"""Reading the log's rows one chunk ahead, so PostgreSQL and the verifier work at once.

Contract: ``rows_prefetched(sql, chunk_size)`` yields exactly the rows, in the same order, that
a server-side cursor running ``sql`` in one transaction on the default database would
yield. A helper thread runs that cursor on its own connection (Django opens one per
thread) and hands over each chunk through a queue holding at most two, so the database
produces chunk n+1 while the caller hashes chunk n; its errors are raised in the caller.
When the caller stops early (an exception, or it closes the generator), the thread stops
and its connection is closed. tests/audit/test_prefetch.py holds it to the plain cursor.

Why (bench/audit.py [3]): verifying a million entries alternated between waiting for
PostgreSQL to render 20,000 rows and hashing them in Python; the two now overlap.

Only outside a transaction: the helper's connection cannot see what the caller's open
transaction wrote, so inside one (and on SQLite) the caller streams on its own connection.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from django.db import connections

_DONE = object()
_WAIT = 0.2  # seconds between checks whether the other side has gone


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def rows_prefetched(sql: str, chunk_size: int, *, name: str = "audit_prefetch"
                    ) -> Iterator[tuple]:
    chunks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=_WAIT)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        connection = connections["default"]  # this thread's own connection
        try:
            connection.ensure_connection()
            raw = connection.connection
            with raw.transaction(), raw.cursor(name=name) as cursor:
                cursor.itersize = chunk_size
                cursor.execute(sql)
                while not stop.is_set():
                    rows = cursor.fetchmany(chunk_size)
                    if not rows:
                        break
                    if not put(rows):
                        return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            put(_Failed(exc))
        finally:
            connection.close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield from item
    finally:
        stop.set()
        thread.join()


def prefetch_possible() -> bool:
    connection = connections["default"]
    return connection.vendor == "postgresql" and not connection.in_atomic_block
