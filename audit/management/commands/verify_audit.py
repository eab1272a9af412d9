from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.models import LogState
from audit.sealing import LogStateLost, audit_log_seal
from audit.verification import AuditLogCorrupt, audit_cosignatures_verify, audit_log_verify
from audit.witness.note import NoteError
from audit.witnessing import configured_witnesses, parse_witness_option, witnesses_ask_now


class Command(BaseCommand):
    help = ("Re-check every audit entry hash, the Merkle root at every signed checkpoint and "
            "every checkpoint signature, that sealing keeps up, and the witnesses' "
            "cosignatures. Exits non-zero naming the first problem.")

    def add_arguments(self, parser):
        parser.add_argument("--seal", action="store_true",
                            help="seal what is waiting, sign a final checkpoint and ask the "
                                 "witnesses to co-sign it first")
        parser.add_argument("--max-unsealed-seconds", type=float, metavar="SECONDS",
                            help="fail when an event has waited longer than this to be "
                                 "sealed, or a checkpoint to be co-signed by a quorum "
                                 "(default: settings.AUDIT_MAX_UNSEALED_SECONDS, "
                                 f"{settings.AUDIT_MAX_UNSEALED_SECONDS})")
        parser.add_argument("--witness", action="append", default=[], metavar="NAME=VKEY",
                            help="a witness whose cosignatures count (default: those of "
                                 "AUDIT_WITNESSES); may repeat")
        parser.add_argument("--quorum", type=int, metavar="K",
                            help="cosignatures a checkpoint needs (default: every witness "
                                 "named with --witness, else 0)")

    def handle(self, *args, **options):
        max_unsealed = options["max_unsealed_seconds"]
        if max_unsealed is None:
            max_unsealed = settings.AUDIT_MAX_UNSEALED_SECONDS
        try:
            witnesses = ([parse_witness_option(text) for text in options["witness"]]
                         or [w.key for w in configured_witnesses()])
        except NoteError as exc:
            raise CommandError(f"--witness: {exc}") from exc
        quorum = options["quorum"]
        if quorum is None:
            quorum = len(witnesses) if options["witness"] else 0
        if not 0 <= quorum <= len(witnesses):
            raise CommandError(f"--quorum {quorum} needs as many witnesses; "
                               f"{len(witnesses)} are named")
        try:
            if options["seal"]:
                audit_log_seal(force_checkpoint=True)
                witnesses_ask_now()
        except LogStateLost as exc:
            raise CommandError(f"audit log verification FAILED: {exc}") from exc
        state = LogState.objects.filter(pk=LogState.SINGLETON_ID).first()
        with tqdm(total=state.size if state else 0, unit=" entries", disable=None,
                  file=self.stderr._out) as bar:
            try:
                report = audit_log_verify(on_progress=bar.update,
                                          max_unsealed_seconds=max_unsealed)
                witnessed = audit_cosignatures_verify(witnesses=witnesses, quorum=quorum,
                                                      max_wait_seconds=max_unsealed)
            except AuditLogCorrupt as exc:
                raise CommandError(f"audit log verification FAILED: {exc}") from exc
        self.stdout.write(f"OK: {report.entries} entries, {report.checkpoints} signed "
                          f"checkpoints, root {report.root_hash} ({report.unsealed} not yet "
                          f"sealed); {self._witnessed(witnessed, len(witnesses))}")

    @staticmethod
    def _witnessed(report, known: int) -> str:
        if not known:
            return "no witnesses configured"
        said = f"{report.cosignatures} witness cosignatures verified"
        if not report.quorum:
            return f"{said} (no quorum required)"
        newest = "none" if report.witnessed_size is None else report.witnessed_size
        return (f"{said}; newest checkpoint co-signed by {report.quorum} of {known} "
                f"witnesses: {newest}")
