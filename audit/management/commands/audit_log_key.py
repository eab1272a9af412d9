from django.conf import settings
from django.core.management.base import BaseCommand

from audit.checkpoints import verifier_key
from audit.signing import service_public_key_bytes


class Command(BaseCommand):
    help = ("Print the note verifier key of the log's checkpoints (origin+keyid+key): what a "
            "witness is started with, as `--log VKEY`.")

    def handle(self, *args, **options):
        self.stdout.write(verifier_key(settings.AUDIT_LOG_ORIGIN, service_public_key_bytes()))
