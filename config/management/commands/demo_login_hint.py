"""Prints how to log into the admin after `make run` has loaded the demo data: each demo
account's password and its second factor (the authenticator secret as an otpauth:// URI,
the code it shows right now, and a single-use recovery code)."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.demo import credentials_file


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


class Command(BaseCommand):
    help = "Print the demo staff logins: password and second factor (from the demo database)."

    def handle(self, *args, **options) -> None:
        path = credentials_file()
        if not path.exists():
            self.stdout.write("No demo data yet: run `python manage.py demo` first.")
            return
        creds = json.loads(path.read_text())
        self.stdout.write("\nThe service: http://127.0.0.1:8000/admin/   (health: /healthz)")
        self.stdout.write(f"Log into the admin as one of (passwords are in {path}); every "
                          "staff login asks a second code after the password:")
        users = {u.username: u for u in get_user_model().objects.filter(username__in=creds)}
        for username, password in creds.items():
            self.stdout.write(f"   {username:10s} {password}")
            device = TOTPDevice.objects.filter(user=users.get(username), confirmed=True).first()
            if device is None:
                continue
            recovery = StaticToken.objects.filter(device__user=device.user).first()
            self.stdout.write(f"      code now: {current_code(device)}   "
                              f"recovery code (once): {recovery.token if recovery else '-'}")
            self.stdout.write(f"      authenticator app: {device.config_url}")
        self.stdout.write("A code lasts 30 seconds: add the otpauth:// address to an "
                          "authenticator app, use a recovery code, or run "
                          "`.venv/bin/python manage.py demo_login_hint` again for a fresh code.")
        self.stdout.write("officer and officer2 are privacy officers (one drafts, the other "
                          "approves); pipc is the commission's read-only reviewer; admin is "
                          "the site administrator (staff accounts, OAuth applications, "
                          "lock-outs). One account per person: the access log names people.")
        self.stdout.write("Five failed logins lock the account, and here (every login comes "
                          "from 127.0.0.1) the address too, so every demo account: "
                          "`.venv/bin/python manage.py axes_reset` unlocks them all.\n")
