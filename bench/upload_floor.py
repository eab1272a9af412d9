"""The upload's database floor: what `bench/upload.py` could reach if its Python were free.

Figure: rows/s of the database writes alone of an upload into the real schema (migrated
tables, their indexes and foreign keys): per batch of 50,000 rows, COPY of the data subjects
(phone token, blind index, BRN hash, public id: computed before the clock starts, the way
`governance.services.subjects_upsert` writes them), of the record blocks (their Fernet tokens
also made beforehand) and of the record rows, then the commit (with the deferred foreign-key
checks of the new subjects). No parsing, no validation, no encryption, no lookups inside the
clock. Ceiling, in the same run: the same `COPY ... FROM STDIN` of the raw rows into a plain
table that `bench/upload.py` uses. The ratio printed is therefore an upper bound for
upload.py's ratio in this design, whatever the Python side does.

Second figure, the Python floor: the Python work that no upload can skip, done by the
service's own functions with no database at all, on the NDJSON bodies upload.py sends: parsing
(`transfers.validation.parse_ndjson`), checking every field (`validate_row`, with the
in-batch duplicate check), and encoding and encrypting the accepted values a block at a time
(`transfers.blocks.block_encode`, one Fernet token per block). Left out, because a different
design might do without them: the subject rows and their phone tokens, blind indexes and BRN
hashes, the lookups, the report. Its ratio to the same COPY bounds every design that checks
and encrypts rows with these functions, however it stores them.

    .venv/bin/python bench/upload_floor.py [--users 2060000] [--merchants 270000]

Creates and drops the database `bench_upload_floor` on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from pgdb import drop_database, recreate_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "bench_upload_floor"
BATCH = 50_000


def _setup_django() -> None:
    setup_django(DB, os.environ.get("VAR_DIR") or tempfile.mkdtemp(prefix="bench-upload-floor-"))


class Prepared:
    """One batch's COPY text for subjects, blocks and records, made before the clock."""

    def __init__(self, plan, upload, batch, kind: str, rows: list[dict], first_id: int):
        from django.utils import timezone

        from governance.crypto import blind_index, brn_hash, bulk_encrypter
        from governance.models import new_public_id
        from transfers.blocks import BLOCK_RECORDS, block_encode
        from transfers.validation import SUBJECT_BRN_FIELD, SUBJECT_PHONE_FIELD, mobile_e164

        encrypt, stamp = bulk_encrypter(), timezone.now().isoformat()
        phone_key, brn_key = SUBJECT_PHONE_FIELD[kind], SUBJECT_BRN_FIELD.get(kind)
        subjects, records, blocks = [], [], []
        ids = range(first_id, first_id + len(rows))
        public_ids = [new_public_id() for _ in rows]
        for line, (pk, public_id, row) in enumerate(zip(ids, public_ids, rows, strict=True), 1):
            phone = mobile_e164(row[phone_key])
            subjects.append(
                f"{pk}\t{kind}\t{plan.from_operator_id}\t{row['external_id']}\t{public_id}\t"
                f"{encrypt(phone.encode()).decode()}\t{blind_index('phone:' + phone)}\t"
                f"{brn_hash(row[brn_key]) if brn_key else ''}\t{stamp}\t{stamp}\n")
            balance = row.get("user.certificate_balance")
            records.append((pk, line, "\\N" if balance is None else int(balance)))
        values = [{k: v for k, v in r.items() if k not in ("kind", "external_id")} for r in rows]
        self.block_lines, self.record_lines = [], []
        for block_no, start in enumerate(range(0, len(rows), BLOCK_RECORDS)):
            block_id = batch.pk * 1000 + block_no
            part = range(start, min(start + BLOCK_RECORDS, len(rows)))
            token = encrypt(block_encode((ids[i], public_ids[i], rows[i]["external_id"],
                                          values[i]) for i in part))
            blocks.append(f"{block_id}\t{plan.pk}\t{batch.pk}\t{kind}\t{ids[part[0]]}\t"
                          f"{ids[part[-1]]}\t{len(part)}\t\\\\x{token.hex()}\n")
            self.record_lines.extend(
                f"{plan.pk}\t{upload.pk}\t{batch.pk}\t{block_id}\t{pk}\t{kind}\t{line}\t"
                f"{balance}\n" for pk, line, balance in (records[i] for i in part))
        self.subject_lines, self.block_lines = subjects, blocks


def write(prepared: Prepared) -> float:
    """The timed part: three COPYs and the commit."""
    from django.db import connection, transaction

    from governance.models import DataSubject
    from transfers.models import Record, RecordBlock

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, lines in (
                (f"COPY {DataSubject._meta.db_table} (id, kind, source_operator_id, external_id,"
                 " public_id, phone, phone_index, brn_hash, created_at, updated_at) FROM STDIN",
                 prepared.subject_lines),
                (f"COPY {RecordBlock._meta.db_table} (id, plan_id, batch_id, kind, "
                 "first_subject_id, last_subject_id, record_count, records) FROM STDIN",
                 prepared.block_lines),
                (f"COPY {Record._meta.db_table} (plan_id, upload_id, batch_id, block_id, "
                 "subject_id, kind, line, certificate_balance) FROM STDIN",
                 prepared.record_lines)):
            with cursor.cursor.copy(sql) as copy:
                copy.write("".join(lines).encode())
    return time.perf_counter() - started


def python_floor(plan, kind: str, rows: list[dict]) -> float:
    """Seconds of the least Python work of one batch (see the module docstring)."""
    import orjson

    from governance.crypto import bulk_encrypter
    from governance.models import new_public_id
    from transfers.blocks import BLOCK_RECORDS, block_encode
    from transfers.services.common import gc_paused
    from transfers.services.uploads import plan_schema
    from transfers.validation import parse_ndjson, validate_row

    schema, encrypt = plan_schema(plan), bulk_encrypter()
    body = b"\n".join(orjson.dumps(r) for r in rows)
    public_ids = [new_public_id() for _ in rows]  # before the clock: not the Python floor
    started = time.perf_counter()
    with gc_paused():
        valid, seen = [], set()
        for line, obj, problem in parse_ndjson(body):
            row, problems = validate_row(line, obj, schema)
            assert problem is None and row is not None, problems
            assert (row.kind, row.external_id) not in seen
            seen.add((row.kind, row.external_id))
            valid.append(row)
        for start in range(0, len(valid), BLOCK_RECORDS):
            encrypt(block_encode((start + i, public_ids[start + i], r.external_id, r.values)
                                 for i, r in enumerate(valid[start:start + BLOCK_RECORDS])))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2_060_000)
    parser.add_argument("--merchants", type=int, default=270_000)
    args = parser.parse_args()
    recreate_database(DB)
    _setup_django()
    from upload import approved_plan, copy_ceiling

    from transfers import synthetic
    from transfers.models import Upload, UploadBatch

    try:
        plan = approved_plan()
        upload = Upload.objects.create(plan=plan, operator_id=plan.from_operator_id)
        write_seconds = copy_seconds = python_seconds = 0.0
        rows_total, next_id, number = 0, 1, 0
        for kind, count in (("merchant", args.merchants), ("user", args.users)):
            for start in range(1, count + 1, BATCH):
                rows = list(synthetic.rows(kind, start, min(BATCH, count - start + 1)))
                number += 1
                batch = UploadBatch.objects.create(upload=upload, batch_id=f"b{number:05d}",
                                                   content_sha256="0" * 64)
                write_seconds += write(Prepared(plan, upload, batch, kind, rows, next_id))
                copy_seconds += copy_ceiling([(batch.batch_id, b"", rows)])
                python_seconds += python_floor(plan, kind, rows)
                next_id += len(rows)
                rows_total += len(rows)
                print(f"  {batch.batch_id}: {rows_total:,} rows, writes "
                      f"{rows_total / write_seconds:,.0f} rows/s, COPY "
                      f"{rows_total / copy_seconds:,.0f} rows/s", flush=True)
        figure, ceiling = rows_total / write_seconds, rows_total / copy_seconds
        print(f"database writes of the upload alone: {figure:,.0f} rows/s "
              f"({write_seconds:.1f} s, {write_seconds / rows_total * 1e6:.1f} µs a row)")
        print(f"ceiling COPY FROM STDIN of the same rows: {ceiling:,.0f} rows/s "
              f"({copy_seconds:.1f} s, {copy_seconds / rows_total * 1e6:.1f} µs a row)")
        print(f"ratio {figure / ceiling:.2f}: the most bench/upload.py can reach in this design")
        python = rows_total / python_seconds
        print(f"Python floor (parse, check, encode and encrypt in blocks; no database): "
              f"{python:,.0f} rows/s ({python_seconds / rows_total * 1e6:.1f} µs a row), "
              f"ratio {python / ceiling:.2f}")
        print(f"both floors together: ratio {copy_seconds / (write_seconds + python_seconds):.2f}"
              f" (this design, before the subjects' phone tokens, hashes and lookups)")
    finally:
        drop_database(DB)


if __name__ == "__main__":
    main()
