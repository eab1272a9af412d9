"""Codes an authenticator app would show, for tests that log in the way an officer does."""

from __future__ import annotations

import time

from django_otp.oath import TOTP


def code_for(device, *, steps_ahead: int = 0) -> str:
    """The code the device's app shows now (or ``steps_ahead`` 30-second steps later: a
    device refuses a code it has already accepted, and tolerates one step of drift)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def password_login(client, username: str, password: str = "correct horse battery"):  # noqa: S107
    """The admin's first step, as the login form posts it."""
    return client.post("/admin/login/?next=/admin/", {"username": username,
                                                      "password": password,
                                                      "next": "/admin/"})
