"""In a real browser, an officer enrols a second factor on the first login (the secret
read off the page, as an authenticator app would scan it) and logs in with it again."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _app_code(secret_text: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for the secret on the page (RFC 6238)."""
    from django_otp.oath import TOTP

    secret = secret_text.replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def _password(page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "officer-kim")
    page.fill("#id_password", "correct horse battery")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/second-factor/**")


def test_an_officer_enrols_a_second_factor_and_logs_in_with_it(live_server, officer, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("BROWSER_SHOTS_DIR", tmp_path))
    base = live_server.url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            _password(page, base)
            assert page.locator("#otp-qr svg").count() == 1
            secret = page.inner_text("#otp-secret")
            assert page.inner_text("#otp-uri").startswith("otpauth://totp/")
            page.screenshot(path=str(shots / "officer-otp-enrol.png"), full_page=True)
            page.fill("#id_code", _app_code(secret))
            page.click("input[type=submit][value='등록']")
            page.wait_for_selector("#recovery-codes")
            assert page.locator("#recovery-codes li").count() == 10
            page.click("#continue")
            page.wait_for_url(f"{base}/admin/")
            assert page.locator("#user-tools").count() == 1

            page.context.clear_cookies()  # a new day: log in again, password and code
            _password(page, base)
            assert page.locator("#otp-qr").count() == 0  # enrolled: only a code is asked
            page.fill("#id_code", _app_code(secret, steps_ahead=1))
            page.click("input[type=submit][value='확인']")
            page.wait_for_url(f"{base}/admin/")
            assert page.locator("#user-tools").count() == 1
        finally:
            browser.close()
