"""Re-encrypt every personal value under the first key of FIELD_ENCRYPTION_KEYS."""

import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from audit.services import system_actor
from governance.services.rotation import encrypted_values_count, encrypted_values_rotate


class Command(BaseCommand):
    help = ("Re-encrypt every encrypted value under the first key in FIELD_ENCRYPTION_KEYS, so "
            "the older keys can then be dropped.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options) -> None:
        with tqdm(total=encrypted_values_count(), unit="row", file=sys.stderr) as bar:
            rewritten = encrypted_values_rotate(by=system_actor("rotate_encryption_keys"),
                                                batch_size=batch_size, on_progress=bar.update)
        for table, count in rewritten.items():
            self.stdout.write(f"{table}: {count} rows re-encrypted")
        self.stdout.write("Done: every value now opens with the first key alone.")
