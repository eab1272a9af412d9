"""Send a running campaign's due messages now, in this process (until none is due)."""

from django.core.management.base import BaseCommand, CommandError

from consent.models import Campaign
from consent.services.sending import campaign_send_run


class Command(BaseCommand):
    help = "Send the due SMS of one running campaign from this process, paced to its rate."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign_id", type=int)

    def handle(self, *args, campaign_id: int, **options) -> None:
        if not Campaign.objects.filter(pk=campaign_id).exists():
            raise CommandError(f"no campaign {campaign_id}")
        result = campaign_send_run(campaign_id=campaign_id, budget_seconds=None)
        if result.busy:
            raise CommandError("another sender holds this campaign right now")
        self.stdout.write(f"sent: {dict(result.sent)} skipped: {dict(result.skipped)}"
                          + (f"; next due {result.wait_until}" if result.wait_until else ""))
