"""One search for deletions owed after release, on every plan with released data. Celery
beat runs the same (`transfers.tasks.detect_deletions`) every minute; in the embedded default
(no broker) run this from cron, or by hand."""

from django.core.management.base import BaseCommand

from transfers.tasks import detect_deletions


class Command(BaseCommand):
    help = "Search every plan with released data for deletions owed (once)."

    def handle(self, *args, **options) -> None:
        created = detect_deletions()  # called directly: runs here, in this process
        self.stdout.write(f"deletion search: {created} new deletion request(s)")
