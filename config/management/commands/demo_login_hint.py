"""Prints how to log into the admin after `make run` has loaded the demo data."""

import json

from django.core.management.base import BaseCommand

from config.demo import credentials_file


class Command(BaseCommand):
    help = "Print the demo staff logins (from var/demo-credentials.json)."

    def handle(self, *args, **options) -> None:
        path = credentials_file()
        if not path.exists():
            self.stdout.write("No demo data yet: run `python manage.py demo` first.")
            return
        creds = json.loads(path.read_text())
        self.stdout.write("\nThe service: http://127.0.0.1:8000/admin/   (health: /healthz)")
        self.stdout.write("Log into the admin as one of (passwords are in "
                          f"{path}):")
        for username, password in creds.items():
            self.stdout.write(f"   {username:10s} {password}")
        self.stdout.write("officer and officer2 are privacy officers (one drafts, the other "
                          "approves); pipc is the commission's read-only reviewer; admin is "
                          "the site administrator (staff accounts, OAuth applications).\n")
