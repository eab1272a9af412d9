"""Export the Decree Art. 15 provision register as CSV."""

from django.core.management.base import BaseCommand

from audit.services import system_actor
from governance.services.export import register_export


class Command(BaseCommand):
    help = ("Write the Decree Art. 15 register (every provision to a third party; entrustment "
            "changes are in export_entrustments) to a CSV file.")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="the CSV file to write")

    def handle(self, *args, out: str, **options) -> None:
        # utf-8-sig: spreadsheet programs then read the Korean headers correctly.
        with open(out, "w", newline="", encoding="utf-8-sig") as fh:
            count = register_export(out=fh, by=system_actor("export_register"))
        self.stdout.write(f"{count} register rows written to {out}")
