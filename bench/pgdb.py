"""The benchmarks' own PostgreSQL databases: each script creates one, and drops it after.

Imported by the scripts in this folder (run as `python bench/<name>.py`, so this folder is on
the path).
"""

from __future__ import annotations

PG = "postgres://postgres@127.0.0.1:5432"


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def recreate_database(name: str) -> None:
    admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin_sql(f"CREATE DATABASE {name}")


def drop_database(name: str) -> None:
    """Close this process's Django connections (if Django is loaded), then drop."""
    import sys

    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()
    admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def setup_django(name: str, var_dir: str) -> None:
    """Django on database ``name``, as in production (DEBUG off: it logs every query it runs),
    tasks in-process, its files under ``var_dir``."""
    import os

    os.environ["DATABASE_URL"] = f"{PG}/{name}"
    os.environ["VAR_DIR"] = var_dir
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DJANGO_DEBUG"] = "0"
    import django

    django.setup()
