"""Export the register of entrustment changes (PIPA Art. 26) as CSV."""

from django.core.management.base import BaseCommand

from audit.services import system_actor
from governance.services.export import entrustment_export


class Command(BaseCommand):
    help = ("Write the entrustment changes (a controller's data handed between its processors, "
            "PIPA Art. 26) to a CSV file; provisions to third parties are in export_register.")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="the CSV file to write")

    def handle(self, *args, out: str, **options) -> None:
        # utf-8-sig: spreadsheet programs then read the Korean headers correctly.
        with open(out, "w", newline="", encoding="utf-8-sig") as fh:
            count = entrustment_export(out=fh, by=system_actor("export_entrustments"))
        self.stdout.write(f"{count} entrustment rows written to {out}")
