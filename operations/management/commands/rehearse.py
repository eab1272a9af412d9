"""`manage.py rehearse`: the Seoul move end to end, with a report (operations/rehearsal)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from operations.rehearsal.run import rehearse
from operations.rehearsal.story import Options


class Command(BaseCommand):
    help = ("Rehearse a whole move (upload, consent campaign, answers on the real pages, the "
            "commission's ruling, releases, reconciliation, audit) and write a report. Run it "
            "on a staging database: it creates a real plan and releases there.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--merchants", type=int, default=200)
        parser.add_argument("--users", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2024)
        parser.add_argument("--http-answers", type=int, default=3000,
                            help="at most this many merchants answer over HTTP")
        parser.add_argument("--sms-users", type=int, help="send the Art. 27 notice by LMS to "
                            "this many users; KEPF attests the rest as told in its app "
                            "(default: all but --app-share of them)")
        parser.add_argument("--app-share", type=float, default=0.2, help="share of users "
                            "told in KEPF's app instead of by LMS (default 0.2)")
        parser.add_argument("--undelivered-share", type=float, default=0.05, help="share of "
                            "the users' LMS the stand-in cannot deliver (default 0.05)")
        parser.add_argument("--early-share", type=float, default=0.1, help="share of the LMS "
                            "users who ask to move now (default 0.1)")
        parser.add_argument("--day-seconds", type=int, default=20, help="how long a day of "
                            "the rehearsal plan's one-day notice period lasts (default 20)")
        parser.add_argument("--base-url", help="a running server to use (default: serve "
                            "in this process on a free loopback port)")
        parser.add_argument("--standin-url", help="with --base-url: the SMS stand-in its "
                            "workers send to")
        parser.add_argument("--out", type=Path, help="where release files and the audit "
                            "bundle go (default: VAR_DIR/rehearsals/run-N)")

    def handle(self, *args, **o) -> None:
        options = Options(merchants=o["merchants"], users=o["users"], seed=o["seed"],
                          http_answers=o["http_answers"], sms_users=o["sms_users"],
                          app_share=o["app_share"], undelivered_share=o["undelivered_share"],
                          early_share=o["early_share"], day_seconds=o["day_seconds"],
                          base_url=o["base_url"],
                          standin_url=o["standin_url"], out=o["out"],
                          quiet=o["verbosity"] == 0)
        run = rehearse(options, log=self.stdout.write)
        self._summary(run)
        if run.status != run.Status.PASSED:
            why = run.summary.get("error") or "see the report"
            raise CommandError(f"rehearsal #{run.pk} failed: {why} ({run.report_path})")

    def _summary(self, run) -> None:
        s = run.summary
        self.stdout.write("")
        for stage in s.get("stages", []):
            self.stdout.write(f"  {stage['label']:<40} {stage['seconds']:8.1f} s  "
                              f"{stage['note']}")
        for row in s.get("outcomes", []):
            self.stdout.write(f"  {row['label']:<40} {row['value']:>10,}")
        mismatched = [r for r in s.get("reconciliation", []) if not r["match"]]
        self.stdout.write(f"  reconciliation: {len(s.get('reconciliation', []))} totals, "
                          f"{len(mismatched)} mismatched")
        audit = s.get("audit", {})
        self.stdout.write(f"  audit: {audit.get('entries', 0):,} entries, verified "
                          f"{audit.get('verified')}, bundle verified "
                          f"{audit.get('bundle_verified')}")
        self.stdout.write(f"rehearsal #{run.pk}: {run.get_status_display()}; report: "
                          f"{run.report_path} (admin: /admin/operations/rehearsalrun/{run.pk}/"
                          "report/)")
