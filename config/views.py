"""/healthz: is the database reachable, is the broker reachable."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request) -> JsonResponse:
    database = _database_state()
    broker = _broker_state()
    healthy = database == "ok" and broker in ("ok", "in-process")
    return JsonResponse({"status": "ok" if healthy else "degraded",
                         "database": database, "broker": broker},
                        status=200 if healthy else 503)


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception:  # noqa: BLE001 - any failure means "down"; details stay in the log
        return "down"


def _broker_state() -> str:
    if not settings.CELERY_BROKER_URL:
        return "in-process"
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception:  # noqa: BLE001
        return "down"
