"""One round of the consent app's periodic work: expiry, reminders, settling unknown sends,
then sending whatever is due. Celery beat runs the same (`consent.tasks.tick`) every minute;
in the embedded default (no broker) run this from cron, or by hand."""

from django.core.management.base import BaseCommand

from consent.tasks import tick


class Command(BaseCommand):
    help = "Expire requests, queue reminders, settle unknown SMS and send what is due (once)."

    def handle(self, *args, **options) -> None:
        summary = tick()  # called directly: runs here, in this process
        self.stdout.write(f"consent tick: {summary}")
