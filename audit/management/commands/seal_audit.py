from django.core.management.base import BaseCommand, CommandError

from audit.sealing import LogStateLost, audit_log_seal


class Command(BaseCommand):
    help = "Seal the unsealed audit events and sign a checkpoint if one is due."

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint", action="store_true",
                            help="sign a checkpoint now, whatever the interval")

    def handle(self, *args, **options):
        try:
            result = audit_log_seal(force_checkpoint=options["checkpoint"])
        except LogStateLost as exc:
            raise CommandError(str(exc)) from exc
        signed = f", signed checkpoint {result.checkpoint.size}" if result.checkpoint else ""
        self.stdout.write(f"sealed {result.sealed} events; the log holds {result.size}{signed}")
