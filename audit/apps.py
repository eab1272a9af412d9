from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "감사 기록 (Audit trail)"
