"""Django's ``flush``, able to empty the audit tables when the settings allow it (tests only).

Without ``AUDIT_ALLOW_FLUSH`` it is exactly Django's command, and the audit triggers make it
fail on a database holding audit entries: emptying the log is not an operation we offer.
"""

from django.conf import settings
from django.core.management.commands.flush import Command as DjangoFlush

from audit.maintenance import maintenance_mode


class Command(DjangoFlush):
    def handle(self, **options):
        if not getattr(settings, "AUDIT_ALLOW_FLUSH", False):
            return super().handle(**options)
        with maintenance_mode(options.get("database") or "default"):
            return super().handle(**options)
