from datetime import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from audit.export import ExportError, audit_bundle_export


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"not an ISO date or time: {text!r}") from exc
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class Command(BaseCommand):
    help = "Write an audit bundle for the commission: entries, checkpoints, proofs, verify.py."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--since", type=_when, help="ISO time (local time if naive)")
        parser.add_argument("--until", type=_when, help="ISO time, exclusive")
        parser.add_argument("--actions", action="append", default=[], metavar="PATTERN",
                            help="also write selection.jsonl with the entries of these "
                                 "actions, e.g. 'access.*' (the access log), 'staff.*'; "
                                 "repeat or separate with commas")

    def handle(self, *args, **options):
        with tqdm(unit=" entries", disable=None, file=self.stderr._out) as bar:
            def progress(done: int) -> None:
                bar.update(done - bar.n)

            try:
                actions = [a.strip() for item in options["actions"] for a in item.split(",")
                           if a.strip()]
                report = audit_bundle_export(out_dir=options["out"], since=options["since"],
                                             until=options["until"], on_progress=progress,
                                             actions=actions)
            except ExportError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"wrote entries {report.first_seq}..{report.last_seq} of "
                          f"{report.tree_size} and {report.checkpoints} checkpoints to "
                          f"{report.out_dir}; check with: python {report.out_dir}/verify.py "
                          f"{report.out_dir}")
        if report.selected is not None:
            self.stdout.write(f"selection.jsonl: {report.selected} entries of "
                              f"{', '.join(actions)}")
        for outcome in report.witnesses:
            if outcome.status in ("cosigned", "current"):
                self.stdout.write(f"witness {outcome.witness}: co-signed checkpoint "
                                  f"{outcome.size}")
            else:
                self.stderr.write(f"witness {outcome.witness} did NOT co-sign the final "
                                  f"checkpoint: {outcome.message or outcome.status}")
