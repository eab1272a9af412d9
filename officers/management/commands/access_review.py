"""manage.py access_review --month 2026-11 [--out review.csv]: the month's access review."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from officers.review import RULE, ReviewError, access_review, parse_month, review_csv


class Command(BaseCommand):
    help = ("The monthly review of the access log as CSV: per account, entries, subjects, "
            "exports and their reasons, access outside working hours, unusual days.")

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM (Asia/Seoul)")
        parser.add_argument("--out", type=Path, help="write here instead of stdout")

    def handle(self, *args, **options):
        try:
            month = parse_month(options["month"])
        except ReviewError as exc:
            raise CommandError(str(exc)) from exc
        review = access_review(month)
        text = review_csv(review)
        if options["out"]:
            options["out"].write_text(text, encoding="utf-8")
            self.stderr.write(f"{len(review.rows)} accounts, {review.flagged} to look at: "
                              f"{options['out']}\n{RULE}")
        else:
            self.stdout.write(text, ending="")
