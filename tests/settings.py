"""Test settings: the real settings module, with a throw-away var/ and fast hashing.

The suite runs twice: on SQLite (no environment) and on PostgreSQL
(DATABASE_URL=postgres://…, TEST_CELERY_BROKER_URL=redis://…) — see scripts/test-all.sh.
"""

import os
import tempfile

os.environ.setdefault("DJANGO_ENV", "test")
# Tests generate their own keys into a fresh directory: none are ever committed.
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="broker-test-var-"))
# Ordinary tests run tasks in-process; tests marked celery_worker use a real worker.
os.environ.pop("CELERY_BROKER_URL", None)

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TEST_CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "")
LANGUAGE_CODE = "ko"
# pytest-django empties the database after each transactional test; the audit tables refuse
# that unless the flush runs in audit maintenance mode (audit/management/commands/flush.py).
AUDIT_ALLOW_FLUSH = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not pytest-django's shared in-memory database: tests that serve over real HTTP
    # (the browser tests, `rehearse`) write from several threads, which an in-memory SQLite
    # shared cache answers with "database table is locked" instead of waiting.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["VAR_DIR"],  # noqa: F405
                                                         "test.sqlite3")}
