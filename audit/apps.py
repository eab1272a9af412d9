from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "감사 기록 (Audit trail)"

    def ready(self) -> None:
        from audit import maintenance

        connection_created.connect(maintenance.register_sqlite_function,
                                   dispatch_uid="audit_sqlite_maintenance_function")
        _add_beat_safety_net()


def _add_beat_safety_net() -> None:
    """A periodic sealing run, in case a queued task was lost (broker restart)."""
    from celery import current_app

    schedule = dict(current_app.conf.beat_schedule or {})
    schedule.setdefault("audit-seal-safety-net", {
        "task": "audit.tasks.seal_audit_log",
        "schedule": 10.0,
        "options": {"expires": 10},
    })
    current_app.conf.beat_schedule = schedule
