from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.models import LogState
from audit.sealing import LogStateLost, audit_log_seal
from audit.verification import AuditLogCorrupt, audit_log_verify


class Command(BaseCommand):
    help = ("Re-check every audit entry hash, the Merkle root at every signed checkpoint and "
            "every checkpoint signature, and that sealing keeps up. Exits non-zero naming "
            "the first problem.")

    def add_arguments(self, parser):
        parser.add_argument("--seal", action="store_true",
                            help="seal what is waiting and sign a final checkpoint first")
        parser.add_argument("--max-unsealed-seconds", type=float, metavar="SECONDS",
                            help="fail when an event has waited longer than this to be "
                                 "sealed (default: settings.AUDIT_MAX_UNSEALED_SECONDS, "
                                 f"{settings.AUDIT_MAX_UNSEALED_SECONDS})")

    def handle(self, *args, **options):
        max_unsealed = options["max_unsealed_seconds"]
        if max_unsealed is None:
            max_unsealed = settings.AUDIT_MAX_UNSEALED_SECONDS
        try:
            if options["seal"]:
                audit_log_seal(force_checkpoint=True)
        except LogStateLost as exc:
            raise CommandError(f"audit log verification FAILED: {exc}") from exc
        state = LogState.objects.filter(pk=LogState.SINGLETON_ID).first()
        with tqdm(total=state.size if state else 0, unit=" entries", disable=None,
                  file=self.stderr._out) as bar:
            try:
                report = audit_log_verify(on_progress=bar.update,
                                          max_unsealed_seconds=max_unsealed)
            except AuditLogCorrupt as exc:
                raise CommandError(f"audit log verification FAILED: {exc}") from exc
        self.stdout.write(f"OK: {report.entries} entries, {report.checkpoints} signed "
                          f"checkpoints, root {report.root_hash} ({report.unsealed} not yet "
                          "sealed)")
